"""Errors raised by the core. The web layer and CLI map them to 4xx / exit codes.

Tree::

    PluginError
    ├── NotFound              an id or slug that does not exist (in this organization)
    ├── ValidationError       bad input; nothing was written
    ├── ConflictError         a rule of the domain refuses the change (duplicate, wrong state)
    ├── PermissionDenied      the actor may not see or do this
    ├── MatchError            matching could not run
    ├── TrackingError         a tandem/session/assessment rule refused the change
    ├── SecretError           a secret at rest cannot be decrypted (key changed, tampering)
    └── ConnectorError(connector, status)
        ├── ConnectorAuthError      401/403, never retried
        ├── ConnectorUnavailable    timeout, 429, 5xx; retriable
        └── ConnectorDataError      the vendor sent something we cannot read
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "N_",
    "ConflictError",
    "ConnectorAuthError",
    "ConnectorDataError",
    "ConnectorError",
    "ConnectorUnavailable",
    "MatchError",
    "NotFound",
    "PermissionDenied",
    "PluginError",
    "SecretError",
    "TrackingError",
    "ValidationError",
]


def N_(message: str) -> str:
    """Mark a message for translation without translating it (the core speaks English).

    The web layer translates an error's :attr:`PluginError.template` into the page's language
    and fills in :attr:`PluginError.params`; the catalogue picks the marked messages up.
    """
    return message


class PluginError(Exception):
    """Base of every error the core raises on purpose; its message is safe to show.

    A message with ``%(name)s`` placeholders takes its values as keyword arguments, so the web
    layer can translate the template and fill the values in (the values are not translated)::

        raise PermissionDenied(N_("only the members of tandem %(tandem)s may see it"), tandem=7)
    """

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, **params: Any) -> None:
        """Create the error.

        Args:
            message: What was wrong, in words a user can act on (English); with
                ``%(name)s`` placeholders when ``params`` are given.
            field: The input field at fault, when there is one.
            **params: The values of the message's placeholders.
        """
        text = message % params if params else message
        super().__init__(text)
        self.message = text
        self.template = message
        self.params = params
        self.field = field

    def render(self, translate: Callable[[str], str]) -> str:
        """The message in another language: ``translate`` maps the English template."""
        translated = translate(self.template)
        if not self.params:
            return translated
        # A wrapped error (e.g. "the platform's answer: %(problem)s") is shown translated too.
        params = {
            k: v.render(translate) if isinstance(v, PluginError) else v
            for k, v in self.params.items()
        }
        try:
            return translated % params
        except (KeyError, ValueError, TypeError):  # a broken translation: stay readable
            return self.message


class NotFound(PluginError):
    """The thing asked for does not exist (or not in this organization)."""

    status_code = 404


class ValidationError(PluginError):
    """The input is malformed or out of range."""

    status_code = 400


class ConflictError(PluginError):
    """The input is well-formed but a domain rule refuses it."""

    status_code = 409


class PermissionDenied(PluginError):
    """The actor may not see or do this."""

    status_code = 403


class MatchError(PluginError):
    """Matching could not run or its input is invalid."""


class TrackingError(ConflictError):
    """A tandem, session, assessment or completion rule refused the change."""


class SecretError(PluginError):
    """A secret stored encrypted cannot be decrypted: the key changed or the value was altered.

    A server-side problem, not bad input; the message never contains the secret.
    """

    status_code = 500


class ConnectorError(PluginError):
    """An external system failed; carries the connector name and HTTP status."""

    status_code = 502

    def __init__(self, message: str, *, connector: str, status: int | None = None) -> None:
        """Create the error.

        Args:
            message: What failed; URLs must already be redacted.
            connector: The connector name, e.g. ``successfactors``.
            status: The HTTP status, when there was a response.
        """
        super().__init__(message)
        self.connector = connector
        self.status = status


class ConnectorAuthError(ConnectorError):
    """Credentials were refused (401/403). Never retried."""


class ConnectorUnavailable(ConnectorError):
    """Timeout, connection error, 429 or 5xx. Safe to retry later."""

    status_code = 503

    def __init__(
        self,
        message: str,
        *,
        connector: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Create the error.

        Args:
            message: What failed; URLs must already be redacted.
            connector: The connector name.
            status: The HTTP status, when there was a response.
            retry_after: Seconds the system asked us to wait (``Retry-After``), if it did.
        """
        super().__init__(message, connector=connector, status=status)
        self.retry_after = retry_after


class ConnectorDataError(ConnectorError):
    """The system answered with data we cannot read."""
