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

from collections.abc import Callable, Iterable
from typing import Any, Literal

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
    "Words",
    "word",
    "words",
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


#: The statuses, roles and kinds that messages name, marked so that pages show them translated.
#: The English is the value itself (what the CLI and the JSON show); a value two enums share
#: (``open``, ``pending``, ``approved``) is one entry.
_WORDS: dict[str, Msg] = {
    w: w
    for w in (
        # programs
        Msg(N_("draft")),
        Msg(N_("enrolling")),
        Msg(N_("matching")),
        Msg(N_("running")),
        Msg(N_("closed")),
        # program formats
        Msg(N_("one_to_one")),
        Msg(N_("group")),
        Msg(N_("bidirectional")),
        Msg(N_("project")),
        # enrollments
        Msg(N_("mentor")),
        Msg(N_("mentee")),
        Msg(N_("active")),
        Msg(N_("withdrawn")),
        # match runs
        Msg(N_("succeeded")),
        Msg(N_("failed")),
        Msg(N_("approved")),
        Msg(N_("discarded")),
        # tandems
        Msg(N_("proposed")),
        Msg(N_("accepted")),
        Msg(N_("completed")),
        Msg(N_("dissolved")),
        Msg(N_("rejected")),
        # meeting modes of a tandem
        Msg(N_("in_person")),
        Msg(N_("video")),
        Msg(N_("phone")),
        Msg(N_("hybrid")),
        # sessions
        Msg(N_("planned")),
        Msg(N_("held")),
        Msg(N_("cancelled")),
        # goals (and alerts: open)
        Msg(N_("open")),
        Msg(N_("in_progress")),
        Msg(N_("met")),
        Msg(N_("dropped")),
        # alerts
        Msg(N_("acknowledged")),
        Msg(N_("resolved")),
        Msg(N_("stalled")),
        Msg(N_("senior_cancellations")),
        Msg(N_("low_safety")),
        # write-back messages and the outbox (and LTI deployments: pending)
        Msg(N_("completion")),
        Msg(N_("hours")),
        Msg(N_("skill_gain")),
        Msg(N_("progress")),
        Msg(N_("pending")),
        Msg(N_("delivering")),
        Msg(N_("delivered")),
        Msg(N_("dead")),
        # LTI deployments
        Msg(N_("revoked")),
    )
}

#: The conjunctions before the last of several words (``mentor and mentee``).
_CONJUNCTIONS: dict[str, Msg] = {"and": Msg(N_("and")), "or": Msg(N_("or"))}


def word(value: object) -> str:
    """A status, role or kind (an enum member or its value) as a message value.

    Known words become :class:`Msg` (same English, translated on pages), a ``Msg`` stays
    itself; anything else is its plain text.
    """
    if isinstance(value, Msg):
        return value
    text = str(getattr(value, "value", value))
    return _WORDS.get(text, text)


def _joined(items: Iterable[str], last: str | None) -> str:
    """``a, b, c``; with ``last`` (a conjunction) ``a, b and c``."""
    texts = list(items)
    if last is None or len(texts) < 2:
        return ", ".join(texts)
    return f"{', '.join(texts[:-1])} {last} {texts[-1]}"


class Words(str):
    """Several statuses, roles or kinds as one message value, each shown translated.

    It *is* its English text (``draft, enrolling`` or ``mentor and mentee``: ``str(w)``,
    JSON, comparisons), so the English message reads as before; :func:`_render` translates
    the known words (see :func:`word`) one by one and the conjunction, and joins them with
    ``", "``. Build it with :func:`words`.
    """

    items: tuple[str, ...]
    last: Msg | None

    def __new__(
        cls, values: Iterable[object], /, *, last: Literal["and", "or"] | None = None
    ) -> Words:
        """Create the value.

        Args:
            values: Enum members or their values (or other text, shown as it is), in the
                order shown.
            last: The conjunction before the last word (``and``, ``or``); else commas only.
        """
        items = tuple(word(v) for v in values)
        conjunction = None if last is None else _CONJUNCTIONS[last]
        self = super().__new__(cls, _joined(items, conjunction))
        self.items = items
        self.last = conjunction
        return self

    def render(self, translate: Callable[[str], str]) -> str:
        """The words in another language: ``translate`` maps each known English word."""
        return _joined(
            (translate(str(w)) if isinstance(w, Msg) else w for w in self.items),
            None if self.last is None else translate(str(self.last)),
        )


def words(values: Iterable[object], *, last: Literal["and", "or"] | None = None) -> Words:
    """Several statuses or roles as one message value, shown translated word by word.

    ``words(ProgramStatus)`` reads ``draft, enrolling, matching, running, closed`` in English
    and ``In Vorbereitung, Anmeldung geöffnet, …`` on a German page;
    ``words(roles, last="and")`` reads ``mentor and mentee``. Values that are not known
    words (see :func:`word`) are shown as they are.

    Args:
        values: Enum members or their values, in the order shown.
        last: The conjunction before the last word (``and``, ``or``); else commas only.
    """
    return Words(values, last=last)


def _render(
    template: str, params: dict[str, Any], english: str, translate: Callable[[str], str]
) -> str:
    """``template`` translated, with ``params`` filled in (translated themselves when marked)."""
    translated = translate(template)
    if not params:
        return translated
    filled: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, PluginError | Refusal | Words):  # e.g. "the answer: %(problem)s"
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
    """An external system failed; carries the connector name and HTTP status.

    Like :class:`PluginError`, a message with ``%(name)s`` placeholders takes its values as
    keyword arguments, so that pages can show it translated (a literal ``%`` must then be
    written ``%%``); a message without values is kept exactly as given (a redacted URL may
    contain ``%``)::

        raise ConnectorDataError(
            N_("%(call)s: the answer is not JSON"), connector="moodle", status=200, call=what
        )
    """

    status_code = 502

    def __init__(
        self,
        message: str,
        *,
        connector: str,
        status: int | None = None,
        field: str | None = None,
        **params: Any,
    ) -> None:
        """Create the error.

        Args:
            message: What failed; URLs must already be redacted. With ``%(name)s``
                placeholders when ``params`` are given.
            connector: The connector name, e.g. ``successfactors``.
            status: The HTTP status, when there was a response.
            field: The input field at fault, when there is one.
            **params: The values of the message's placeholders (not ``connector``,
                ``status`` or ``field``).
        """
        super().__init__(message, field=field, **params)
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
        field: str | None = None,
        **params: Any,
    ) -> None:
        """Create the error.

        Args:
            message: What failed; URLs must already be redacted. With ``%(name)s``
                placeholders when ``params`` are given.
            connector: The connector name.
            status: The HTTP status, when there was a response.
            retry_after: Seconds the system asked us to wait (``Retry-After``), if it did.
            field: The input field at fault, when there is one.
            **params: The values of the message's placeholders (not ``connector``,
                ``status``, ``retry_after`` or ``field``).
        """
        super().__init__(message, connector=connector, status=status, field=field, **params)
        self.retry_after = retry_after


class ConnectorDataError(ConnectorError):
    """The system answered with data we cannot read."""
