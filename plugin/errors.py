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
    "Msg",
    "NotFound",
    "PermissionDenied",
    "PluginError",
    "Refusal",
    "SecretError",
    "TrackingError",
    "ValidationError",
    "word",
]


def N_(message: str) -> str:
    """Mark a message for translation without translating it (the core speaks English).

    The web layer translates an error's :attr:`PluginError.template` into the page's language
    and fills in :attr:`PluginError.params`; the catalogue picks the marked messages up.
    """
    return message


class Msg(str):
    """An English word or phrase from a fixed set used as a message's value, shown translated.

    Statuses, roles and the like are filled into messages as values; wrapped in ``Msg`` (and
    marked for extraction, ``Msg(N_("completed"))``) they read the same in English and are
    translated by :meth:`PluginError.render` and :meth:`Refusal.render`.
    """

    __slots__ = ()


#: The statuses and roles that messages name, marked so that pages show them translated.
_WORDS: dict[str, Msg] = {
    w: w
    for w in (
        # programs
        Msg(N_("draft")),
        Msg(N_("enrolling")),
        Msg(N_("matching")),
        Msg(N_("running")),
        Msg(N_("closed")),
        # enrollments
        Msg(N_("mentor")),
        Msg(N_("mentee")),
        Msg(N_("active")),
        Msg(N_("withdrawn")),
        # tandems
        Msg(N_("proposed")),
        Msg(N_("accepted")),
        Msg(N_("completed")),
        Msg(N_("dissolved")),
        Msg(N_("rejected")),
        # sessions
        Msg(N_("planned")),
        Msg(N_("held")),
        Msg(N_("cancelled")),
    )
}


def word(value: object) -> str:
    """A status or role (an enum member or its value) as a message value.

    Known words become :class:`Msg` (same English, translated on pages); anything else is
    its plain text.
    """
    text = str(getattr(value, "value", value))
    return _WORDS.get(text, text)


def _render(
    template: str, params: dict[str, Any], english: str, translate: Callable[[str], str]
) -> str:
    """``template`` translated, with ``params`` filled in (translated themselves when marked)."""
    translated = translate(template)
    if not params:
        return translated
    filled: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, PluginError | Refusal):  # e.g. "the platform's answer: %(problem)s"
            filled[k] = v.render(translate)
        elif isinstance(v, Msg):
            filled[k] = translate(str(v))
        else:
            filled[k] = v
    try:
        return translated % filled
    except (KeyError, ValueError, TypeError):  # a broken translation: stay readable
        return english


class Refusal(str):
    """Why something is not possible now: English text that pages can show translated.

    It *is* its English text (``str(r)``, ``r.message``, JSON, comparisons), and carries the
    marked template and values like :class:`PluginError` does, so the web layer can show it in
    the page's language::

        Refusal(N_("your survey was already submitted on %(date)s"), date="2026-05-01")
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Refusal:
        """Create the refusal.

        Args:
            template: The English message (marked with :func:`N_`), with ``%(name)s``
                placeholders when ``params`` are given.
            **params: The values of the placeholders (:class:`Msg` values are translated).
        """
        self = super().__new__(cls, template % params if params else template)
        self.template = template
        self.params = dict(params)
        return self

    @property
    def message(self) -> str:
        """The English text (as :attr:`PluginError.message`)."""
        return str.__str__(self)

    def render(self, translate: Callable[[str], str]) -> str:
        """The text in another language: ``translate`` maps the English template."""
        return _render(self.template, self.params, self.message, translate)


class PluginError(Exception):
    """Base of every error the core raises on purpose; its message is safe to show.

    A message with ``%(name)s`` placeholders takes its values as keyword arguments, so the web
    layer can translate the template and fill the values in (the values are not translated,
    except :class:`Msg` words and nested errors or refusals)::

        raise PermissionDenied(N_("only the members of tandem %(tandem)s may see it"), tandem=7)
        raise TrackingError(N_("tandem %(tandem)s is %(status)s"), tandem=7, status=word("held"))
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
        return _render(self.template, self.params, self.message, translate)


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
