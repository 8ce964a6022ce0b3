"""HTTP clients of SuccessFactors: HXM OData v2 and Learning OData v4.

:class:`ODataClient` (reference §3, §6; SAP "SAP SuccessFactors HXM Suite OData API:
Developer Guide (V2)"):

* JSON always (``$format=json``); the query string is built here with ``%20`` for spaces
  and the OData characters ``$ ' ( ) , / :`` left as they are.
* **Server paging**: the first request carries the query; every next page is the
  absolute ``d.__next`` URL *exactly as sent* (SuccessFactors' skip tokens encode the
  position; ``$top``/``$skip`` can drop or repeat rows). A ``__next`` seen before is a
  loop and raises :class:`~plugin.errors.ConnectorDataError`; a ``__next`` on another host
  is refused (our token would go there; ``https://host:443/…`` is the same host). The
  HTTP session's cookies, and an ``X-CSRF-Token`` the server hands out, are sent back,
  as SAP asks for server-side paging (KBA 3308165).
* A page that cannot be read (an HTML error page, cut-off JSON, no ``d``, no
  ``results`` list) raises :class:`~plugin.errors.ConnectorDataError`: the run fails
  rather than taking a partial page for the whole.
* **Errors**: 401 is retried once with a fresh token (tokens also expire early); then
  401/403 and any ``LGNxxxx`` login error → :class:`~plugin.errors.ConnectorAuthError`;
  429/5xx (including 500 "OData metadata is being generated … try again later") are
  retried by :class:`connectors._http.HttpClient` and end as
  :class:`~plugin.errors.ConnectorUnavailable`; other 4xx → :class:`ODataError` (a
  :class:`~plugin.errors.ConnectorDataError` carrying the OData ``code``). The envelope
  ``{"error": {"code", "message": {"value"}}}`` becomes ``code: value`` with quoted
  literals and e-mail addresses elided (SuccessFactors quotes keys and values there).
* ``POST /upsert`` answers 200 even when rows failed: :meth:`ODataClient.upsert` returns
  the per-row results for the caller to judge; it is repeated after a failure, because
  an upsert of the same rows is idempotent.

:class:`LearningClient` (reference §9): external learning events and the learning
history, with its own token (:class:`connectors.successfactors.auth.LearningAuth`),
refreshed once when Learning answers ``The token has expired.``. "No search results for
provided search criteria" is an empty history, whatever status it comes with (tenants
send it with a 404 or a 500), and is not retried. Posting events is *not*
idempotent and never repeated by this client once it may have been processed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote, urljoin, urlsplit

import requests

from connectors._http import HttpClient, json_body, redact_url
from connectors.successfactors.auth import (
    LearningAuth,
    expired_token_answer,
    lgn_message,
    vendor_code,
)
from connectors.successfactors.settings import Settings
from plugin.errors import ConnectorAuthError, ConnectorDataError

__all__ = [
    "CONNECTOR",
    "EXTERNAL_EVENTS_PATH",
    "LEARNING_HISTORY_PATH",
    "LearningClient",
    "ODataClient",
    "ODataError",
    "build_query",
    "key_literal",
    "odata_error",
    "origin_of",
    "scrub",
]

log = logging.getLogger(__name__)

CONNECTOR = "successfactors"
#: Learning: record external learning events (≤ 10 per call).
EXTERNAL_EVENTS_PATH = (
    "/learning/odatav4/public/admin/learningevent-service/v1/ExternalLearningEvents"
)
#: Learning: a student's learning history.
LEARNING_HISTORY_PATH = "/learning/odatav4/public/user/userlearning-service/v1/learninghistorys"
#: At most this many pages of one Learning read.
MAX_LEARNING_PAGES = 50

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
# Characters an OData query keeps literal (quote() escapes everything else, spaces as %20).
_ODATA_SAFE = ",'()/:$*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Authorizer(Protocol):
    """What the clients need of an authentication provider."""

    def authorization(self) -> tuple[str, str]:
        """``(Authorization header value, token)``."""
        ...

    def refused(self, token: str) -> bool:
        """Forget a refused token; True when a fresh one is worth trying."""
        ...


class ODataError(ConnectorDataError):
    """SuccessFactors refused a request (4xx); ``code`` is the OData error code, if any."""

    def __init__(self, message: str, *, status: int | None, code: str | None) -> None:
        """Create the error.

        Args:
            message: What failed (no personal data, URL redacted).
            status: The HTTP status.
            code: The OData error code, e.g. ``COE_PROPERTY_NOT_FOUND``.
        """
        super().__init__(message, connector=CONNECTOR, status=status)
        self.code = code


def scrub(text: str, *, limit: int = 200, hide: Iterable[str] = ()) -> str:
    """A vendor message made safe to show: quoted literals and e-mail addresses elided.

    Args:
        text: The vendor's message.
        limit: The longest result.
        hide: Values known to be personal (user ids of the request) elided wherever they
            stand as a word, quoted or not.
    """
    out = _QUOTED.sub("'…'", text)
    out = _EMAIL.sub("…", out)
    for value in sorted({v for v in hide if v}, key=len, reverse=True):
        out = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "…", out)
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


def odata_error(payload: Any, *, hide: Iterable[str] = ()) -> tuple[str | None, str | None]:
    """``(code, safe message)`` of an OData v2/v4 error envelope, if it is one.

    Args:
        payload: The decoded answer.
        hide: Personal values to elide from the message (see :func:`scrub`).
    """
    if not isinstance(payload, Mapping):
        return None, None
    error = payload.get("error")
    if not isinstance(error, Mapping):
        return None, None
    code = error.get("code")
    message = error.get("message")
    if isinstance(message, Mapping):
        message = message.get("value")
    safe_code = code if isinstance(code, str) and _SAFE_CODE.match(code) else None
    safe_message = (
        scrub(message, hide=hide) if isinstance(message, str) and message.strip() else None
    )
    return safe_code, safe_message


def build_query(params: Mapping[str, str]) -> str:
    """An OData query string: ``$`` names kept, spaces as ``%20``, OData punctuation kept."""
    return "&".join(
        quote(name, safe="$") + "=" + quote(value, safe=_ODATA_SAFE)
        for name, value in params.items()
    )


def origin_of(url: str) -> tuple[str, str, str, int | None]:
    """``(scheme, userinfo, host, port)`` of a URL, the scheme's default port made explicit.

    SuccessFactors writes ``https://api4.successfactors.com:443/…`` into ``__next`` and
    ``__metadata`` although the connection says ``https://api4.successfactors.com``: the
    same origin. Userinfo counts (a link carrying credentials of its own is not ours to
    follow). ``("", "", "", None)`` for a malformed URL.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return ("", "", "", None)
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return (scheme, userinfo, (parts.hostname or "").lower(), port)


def key_literal(value: str) -> str:
    """An OData string key, e.g. ``'o''brien'`` (quote doubled), URL-escaped."""
    return quote("'" + value.replace("'", "''") + "'", safe="'")


def _error_message(
    response: requests.Response, what: str, hide: Iterable[str] = ()
) -> tuple[str, str | None]:
    try:
        payload = response.json()
    except (requests.JSONDecodeError, ValueError):
        payload = None
    code, message = odata_error(payload, hide=hide)
    parts = [p for p in (code, message) if p]
    detail = ": ".join(parts) if parts else "no error details"
    return (
        f"{what}: HTTP {response.status_code} from {redact_url(response.url or '')}: {detail}",
        code,
    )


class _Sender:
    """Authorized requests with one token refresh and the SuccessFactors error mapping."""

    def __init__(self, *, http: HttpClient, auth: Authorizer) -> None:
        self.http = http
        self.auth = auth
        self._csrf: str | None = None

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        json: Any = None,
        idempotent: bool | None = None,
        expired_any_4xx: bool = False,
        hide: Iterable[str] = (),
        final: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        refreshed = False
        while True:
            header, token = self.auth.authorization()
            headers = {"Authorization": header, "Accept": "application/json"}
            if self._csrf:
                headers["X-CSRF-Token"] = self._csrf
            response = self.http.request(
                method,
                url,
                what=what,
                headers=headers,
                json=json,
                idempotent=idempotent,
                final=final,
            )
            csrf = response.headers.get("X-CSRF-Token")
            if csrf and csrf.lower() not in ("required", "fetch"):
                self._csrf = csrf
            status = response.status_code
            expired = 400 <= status < 500 and expired_token_answer(response)
            if (
                (status == 401 or (expired_any_4xx and expired))
                and not refreshed
                and self.auth.refused(token)
            ):
                log.info("%s: the token was refused (%s); fetching a fresh one", what, status)
                refreshed = True
                continue
            if 200 <= status < 300:
                return response
            code = vendor_code(response)
            if code and code.startswith("LGN"):
                raise ConnectorAuthError(
                    f"{what}: {lgn_message(code)}", connector=CONNECTOR, status=status
                )
            if status in (401, 403) or expired:
                self.auth.refused(token)
                raise ConnectorAuthError(
                    f"{what}: HTTP {status} from {redact_url(url)}; SuccessFactors refused "
                    "the API user (check the OAuth client, the user's API permissions and "
                    "role-based permissions for this entity)",
                    connector=CONNECTOR,
                    status=status,
                )
            message, odata_code = _error_message(response, what, hide)
            raise ODataError(self.http.safe(message), status=status, code=odata_code)


class ODataClient:
    """Reads and upserts HXM OData v2 entities of one connection."""

    def __init__(self, *, settings: Settings, http: HttpClient, auth: Authorizer) -> None:
        """Configure the client; no I/O.

        Args:
            settings: The connection.
            http: Sends requests (timeouts, retries).
            auth: Gives the ``Authorization`` header (SAML bearer or basic).
        """
        self.settings = settings
        self.http = http
        self._sender = _Sender(http=http, auth=auth)
        self._origin = origin_of(settings.odata_url)

    def url(self, resource: str, params: Mapping[str, str] | None = None) -> str:
        """The absolute URL of ``resource`` below the OData service, with a query."""
        base = f"{self.settings.odata_url}/{resource.lstrip('/')}"
        return f"{base}?{build_query(params)}" if params else base

    def get(self, resource: str, *, what: str, params: Mapping[str, str] | None = None) -> Any:
        """The ``d`` of one GET (``$format=json`` added).

        Raises:
            ConnectorAuthError, ConnectorUnavailable, ConnectorDataError: Classified.
        """
        url = self.url(resource, {"$format": "json", **(params or {})})
        data = json_body(self._sender.send("GET", url, what=what), connector=CONNECTOR, what=what)
        if not isinstance(data, Mapping) or "d" not in data:
            raise ConnectorDataError(
                f"{what}: the answer of {redact_url(url)} has no 'd' (not an OData v2 answer)",
                connector=CONNECTOR,
            )
        return data["d"]

    def iter_pages(
        self, entity: str, *, params: Mapping[str, str], what: str
    ) -> Iterator[list[Any]]:
        """The rows of a collection, one server page at a time (lazy).

        Args:
            entity: The entity set, e.g. ``User``.
            params: The query of the first request (``$format=json`` added).
            what: Names the read in messages, e.g. ``User``.

        Raises:
            ConnectorDataError: A page cannot be read, ``__next`` repeats or leaves the host.
        """
        url = self.url(entity, {"$format": "json", **params})
        seen: set[str] = set()
        page = 0
        while True:
            page += 1
            label = f"{what} page {page}"
            response = self._sender.send("GET", url, what=label)
            data = json_body(response, connector=CONNECTOR, what=label)
            rows, following = self._page(data, label)
            yield rows
            if following is None:
                return
            url = self._next(following, url, seen, label)

    def _page(self, data: Any, label: str) -> tuple[list[Any], str | None]:
        d = data.get("d") if isinstance(data, Mapping) else None
        if isinstance(d, list):
            return d, None
        if not isinstance(d, Mapping):
            raise ConnectorDataError(
                f"{label}: the answer has no 'd' object (not an OData v2 collection)",
                connector=CONNECTOR,
            )
        rows = d.get("results")
        if not isinstance(rows, list):
            raise ConnectorDataError(
                f"{label}: the answer has no 'results' list", connector=CONNECTOR
            )
        following = d.get("__next")
        if following is None or following == "":
            return rows, None
        if not isinstance(following, str):
            raise ConnectorDataError(f"{label}: '__next' is not a URL", connector=CONNECTOR)
        return rows, following

    def _next(self, following: str, current: str, seen: set[str], label: str) -> str:
        url = urljoin(current, following)
        if origin_of(url) != self._origin:
            raise ConnectorDataError(
                f"{label}: the next page lies on another host ({redact_url(url)}); not "
                "following it with Tandem's credentials",
                connector=CONNECTOR,
            )
        if url in seen:
            raise ConnectorDataError(
                f"{label}: the server sent the same next-page link twice (paging loop); stopping",
                connector=CONNECTOR,
            )
        seen.add(url)
        return url

    def upsert(self, rows: Sequence[Mapping[str, Any]], *, what: str = "upsert") -> list[Any]:
        """``POST /upsert`` of rows carrying ``__metadata``; the per-row results, in order.

        SuccessFactors answers 200 even when rows failed: the caller must read each
        result's ``status`` (``OK`` / ``ERROR``), ``httpCode`` and ``index``.

        Raises:
            ConnectorAuthError, ConnectorUnavailable, ConnectorDataError: The whole call
                failed (classified).
        """
        url = self.url("upsert", {"$format": "json"})
        students = {str(r.get("SkillProfile_externalCode") or "") for r in rows}
        response = self._sender.send(
            "POST", url, what=what, json=list(rows), idempotent=True, hide=students
        )
        data = json_body(response, connector=CONNECTOR, what=what)
        d = data.get("d") if isinstance(data, Mapping) else None
        if isinstance(d, Mapping):
            d = d.get("results")
        if not isinstance(d, list):
            raise ConnectorDataError(
                f"{what}: the answer has no per-row results", connector=CONNECTOR
            )
        return d


def _no_results(response: requests.Response) -> bool:
    """Learning's "No search results for provided search criteria" (sent with a 4xx/5xx)."""
    return "no search results" in (response.text or "")[:2000].lower()


class LearningClient:
    """Posts external learning events and reads learning history (SuccessFactors Learning)."""

    def __init__(self, *, settings: Settings, http: HttpClient, auth: LearningAuth) -> None:
        """Configure the client; no I/O.

        Raises:
            ConnectorDataError: The connection has no ``learning_url``.
        """
        if not settings.learning_url:
            raise ConnectorDataError(
                "the connection has no learning_url (SuccessFactors Learning)",
                connector=CONNECTOR,
            )
        self.settings = settings
        self.base = settings.learning_url
        self.http = http
        self._sender = _Sender(http=http, auth=auth)

    def post_external_events(self, events: Sequence[Mapping[str, Any]]) -> Any:
        """Record up to 10 external learning events in one call; the answer's JSON (or None).

        Not idempotent: never repeated here once it may have been processed.

        Raises:
            ConnectorUnavailable: No answer, 429 or 5xx (the events may or may not exist).
            ConnectorAuthError, ConnectorDataError: Refused (nothing recorded).
        """
        what = "ExternalLearningEvents POST"
        url = self.base + EXTERNAL_EVENTS_PATH
        response = self._sender.send(
            "POST",
            url,
            what=what,
            json={"externalLearningEvents": list(events)},
            idempotent=False,
            expired_any_4xx=True,
            hide={str(e.get("studentID") or "") for e in events},
        )
        if not response.content or not response.content.strip():
            return None
        return json_body(response, connector=CONNECTOR, what=what)

    def learning_history(self, student_id: str) -> list[Any]:
        """Every learning-history item of one student (all pages).

        Raises:
            ConnectorAuthError, ConnectorUnavailable, ConnectorDataError: Classified.
        """
        what = "learning history GET"
        literal = student_id.replace("'", "''")
        url = (
            self.base
            + LEARNING_HISTORY_PATH
            + "?"
            + build_query({"$filter": f"criteria/targetUserID eq '{literal}'"})
        )
        items: list[Any] = []
        seen: set[str] = set()
        for _ in range(MAX_LEARNING_PAGES):
            try:
                response = self._sender.send(
                    "GET",
                    url,
                    what=what,
                    expired_any_4xx=True,
                    hide=[student_id],
                    final=_no_results,
                )
            except ODataError as exc:
                # Learning answers "No search results for provided search criteria" for none.
                if "no search results" in str(exc).lower():
                    return items
                raise
            data = json_body(response, connector=CONNECTOR, what=what)
            if isinstance(data, Mapping) and "value" not in data:
                _code, message = odata_error(data)
                if message and "no search results" in message.lower():
                    return items
            values = data.get("value") if isinstance(data, Mapping) else None
            if not isinstance(values, list):
                raise ConnectorDataError(
                    f"{what}: the answer has no 'value' list", connector=CONNECTOR
                )
            items.extend(values)
            following = data.get("@odata.nextLink")
            if not isinstance(following, str) or not following:
                return items
            url = urljoin(url, following)
            if url in seen or origin_of(url) != origin_of(self.base):
                raise ConnectorDataError(
                    f"{what}: unusable next-page link ({redact_url(url)})", connector=CONNECTOR
                )
            seen.add(url)
        raise ConnectorDataError(
            f"{what}: more than {MAX_LEARNING_PAGES} pages; stopping", connector=CONNECTOR
        )
