"""An LTI Assignment and Grade Services 2.0 client: token, line items, scores, results.

Spec: https://www.imsglobal.org/spec/lti-ags/v2p0 (services) and
https://www.imsglobal.org/spec/security/v1p0 (the token request). Moodle's endpoints are
``/mod/lti/token.php`` and ``/mod/lti/services.php/{course}/lineitems?type_id=…``.

* **Token** — OAuth 2 ``client_credentials`` with a ``private_key_jwt`` client assertion:
  an RS256 JWT signed with the tool key (header ``kid``), ``iss`` = ``sub`` = client id,
  ``aud`` = the platform's token audience (or its token URL), ``iat``, ``exp`` = ``iat`` +
  300, a fresh ``jti`` per request. Tokens are cached per (token URL, client id, scopes)
  until shortly before they expire, in this process only (a bearer token is no state
  another host needs), and dropped when the platform answers 401.
* **Every call** has a (connect, read) timeout and no redirects. Connection errors, 429
  and 5xx are retried at most :data:`MAX_RETRIES` times, honouring ``Retry-After`` up to
  :data:`MAX_RETRY_WAIT` seconds; a longer wait, or no retries left, raises
  :class:`~plugin.errors.ConnectorUnavailable` with ``retry_after`` so the outbox waits
  that long. A line item is created at most once per call (a POST that may have been
  processed is not repeated; the next attempt finds it first). A score POST is repeated,
  because the same score with the same ``timestamp`` changes nothing.
* **Failures are classified here**: 401 (after one fresh token) and 403 →
  :class:`~plugin.errors.ConnectorAuthError`; 400, 404, 422 and other refusals →
  :class:`~plugin.errors.ConnectorDataError`. A 409 to a score means the platform holds a
  score at least as new (Moodle refuses a ``timestamp`` not newer than the grade's):
  :meth:`AgsClient.post_score` returns ``False``. Messages name the call and the URL
  without its query string (Moodle's ``user_id``); never a token or a payload.
* **Paging** follows ``Link: <…>; rel="next"`` exactly as sent (no lower-casing, lti.md
  §1.1), and stops on a repeated page.
"""

from __future__ import annotations

import email.utils
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import jwt
import requests

from plugin.errors import ConnectorAuthError, ConnectorDataError, ConnectorUnavailable

__all__ = [
    "ASSERTION_LIFETIME",
    "ASSERTION_TYPE",
    "CONNECTOR",
    "DEFAULT_TIMEOUT",
    "MAX_RETRIES",
    "MAX_RETRY_WAIT",
    "MEDIA_LINEITEM",
    "MEDIA_LINEITEMS",
    "MEDIA_RESULTS",
    "MEDIA_SCORE",
    "AgsClient",
    "TokenCache",
    "ToolCredentials",
    "clear_token_cache",
    "redact_url",
    "with_path_suffix",
    "with_query",
]

log = logging.getLogger(__name__)

CONNECTOR = "lti_ags"
MEDIA_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MEDIA_LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEDIA_SCORE = "application/vnd.ims.lis.v1.score+json"
MEDIA_RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: (connect, read) seconds of every call.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
#: Retries of one call after a connection error, 429 or 5xx.
MAX_RETRIES = 2
#: The longest ``Retry-After`` a call waits for itself; longer → ConnectorUnavailable now.
MAX_RETRY_WAIT = 5.0
#: Seconds before the first retry without ``Retry-After`` (doubling).
BACKOFF = 0.5
#: Lifetime of a client assertion (seconds).
ASSERTION_LIFETIME = 300
#: A token is renewed this many seconds before it expires.
TOKEN_MARGIN = 30.0
#: Token lifetime assumed when the platform gives none.
DEFAULT_TOKEN_LIFETIME = 3600.0
#: At most this many pages of line items or results.
MAX_PAGES = 500


@dataclass(frozen=True)
class ToolCredentials:
    """What the token request needs.

    Attributes:
        token_url: The platform's OAuth 2 token endpoint.
        client_id: Tandem's client id on the platform.
        private_key_pem: The tool's signing key (PEM; never logged).
        kid: Its key id, as published in the tool's JWKS.
        audience: ``aud`` of the assertion when the platform wants another than the
            token URL.
    """

    token_url: str
    client_id: str
    private_key_pem: str = field(repr=False)
    kid: str
    audience: str | None = None


_TokenKey = tuple[str, str, tuple[str, ...]]


class TokenCache:
    """Access tokens by (token URL, client id, scopes), with their expiry; thread-safe."""

    def __init__(self) -> None:
        """An empty cache."""
        self._tokens: dict[_TokenKey, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: _TokenKey, now: float) -> str | None:
        """The cached token, unless it expires within the margin."""
        with self._lock:
            found = self._tokens.get(key)
            if found is None:
                return None
            token, expires_at = found
            if now >= expires_at:
                del self._tokens[key]
                return None
            return token

    def put(self, key: _TokenKey, token: str, expires_at: float) -> None:
        """Remember a token until ``expires_at`` (already less the margin)."""
        with self._lock:
            self._tokens[key] = (token, expires_at)

    def drop(self, key: _TokenKey, token: str) -> None:
        """Forget ``token`` (refused by the platform), unless it was replaced meanwhile."""
        with self._lock:
            found = self._tokens.get(key)
            if found is not None and found[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._tokens.clear()


_TOKENS = TokenCache()


def clear_token_cache() -> None:
    """Forget the process's cached tokens (tests; after re-registering a platform)."""
    _TOKENS.clear()


# --------------------------------------------------------------------------- URLs


def redact_url(url: str) -> str:
    """``scheme://host/path`` — no user info, query string or fragment (safe in errors)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<malformed URL>"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def with_path_suffix(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` appended to its path, before any query string.

    ``…/lineitems/3/lineitem?type_id=1`` + ``/scores`` →
    ``…/lineitems/3/lineitem/scores?type_id=1``.
    """
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rstrip("/") + suffix, parts.query, "")
    )


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to (or replacing the same names in) its query."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _retry_after(response: requests.Response, now: float) -> float | None:
    raw = (response.headers.get("Retry-After") or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# --------------------------------------------------------------------------- client


class AgsClient:
    """Calls one platform's AGS endpoints with a token for a fixed set of scopes."""

    def __init__(
        self,
        *,
        credentials: ToolCredentials,
        scopes: Sequence[str],
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = MAX_RETRIES,
        max_retry_wait: float = MAX_RETRY_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        cache: TokenCache | None = None,
    ) -> None:
        """Configure the client; no I/O.

        Args:
            credentials: The platform's token endpoint and the tool's key.
            scopes: The AGS scopes to ask the token for.
            session: The HTTP session (connection pooling; a new one by default).
            timeout: Seconds (connect, read) of every call.
            max_retries: Retries of a call after a connection error, 429 or 5xx.
            max_retry_wait: The longest ``Retry-After`` a call waits for itself.
            sleep: Waits between retries (injected by tests).
            clock: Unix time, for the assertion and the token expiry.
            cache: Where tokens are kept; the process-wide cache by default.
        """
        self.credentials = credentials
        self.scopes = tuple(sorted(set(scopes)))
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._clock = clock
        self._cache = cache if cache is not None else _TOKENS
        self._key: _TokenKey = (credentials.token_url, credentials.client_id, self.scopes)

    # ------------------------------------------------------------------ token

    def client_assertion(self) -> str:
        """A fresh signed client assertion (RS256, header ``kid``)."""
        creds = self.credentials
        now = int(self._clock())
        claims = {
            "iss": creds.client_id,
            "sub": creds.client_id,
            "aud": creds.audience or creds.token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        try:
            return jwt.encode(
                claims, creds.private_key_pem, algorithm="RS256", headers={"kid": creds.kid}
            )
        except (ValueError, TypeError, jwt.PyJWTError):
            raise ConnectorAuthError(
                "the tool's private key cannot sign the token request", connector=CONNECTOR
            ) from None

    def access_token(self) -> str:
        """A bearer token for :attr:`scopes`, from the cache or the token endpoint.

        Raises:
            ConnectorAuthError: The platform refused the client or the scopes.
            ConnectorUnavailable: The token endpoint is unreachable or overloaded.
            ConnectorDataError: It answered something that is no token.
        """
        cached = self._cache.get(self._key, self._clock())
        if cached is not None:
            return cached
        url = self.credentials.token_url

        def form() -> dict[str, str]:
            return {
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.client_assertion(),
                "scope": " ".join(self.scopes),
            }

        response = self._send("POST", url, what="token request", form=form, auth=False)
        status = response.status_code
        if status in (400, 401, 403):
            code = _oauth_error(response)
            raise ConnectorAuthError(
                f"the platform refused Tandem's token request ({code or f'HTTP {status}'}) "
                f"at {redact_url(url)}; check the client id, the tool's public key on the "
                "platform and the AGS services granted",
                connector=CONNECTOR,
                status=status,
            )
        data = self._json(self._ok(response, url, "token request"), url, "token request")
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ConnectorDataError(
                f"token request: no access_token in the answer of {redact_url(url)}",
                connector=CONNECTOR,
                status=status,
            )
        lifetime = data.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        margin = min(TOKEN_MARGIN, float(lifetime) / 2)
        self._cache.put(self._key, token, self._clock() + float(lifetime) - margin)
        return token

    # ------------------------------------------------------------------ line items

    def iter_lineitems(
        self, lineitems_url: str, *, resource_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every line item of a container, page after page (``rel="next"``).

        Args:
            lineitems_url: The container (``lineitems`` of the AGS claim).
            resource_id: Ask the platform to filter by ``resourceId`` (a hint: the
                caller still checks each item).
        """
        url = with_query(lineitems_url, resource_id=resource_id) if resource_id else lineitems_url
        yield from self._pages(url, what="line items GET", accept=MEDIA_LINEITEMS)

    def find_lineitem(self, lineitems_url: str, *, resource_id: str) -> dict[str, Any] | None:
        """The first line item of the container with this ``resourceId``, or None."""
        for item in self.iter_lineitems(lineitems_url, resource_id=resource_id):
            if item.get("resourceId") == resource_id and isinstance(item.get("id"), str):
                return item
        return None

    def create_lineitem(
        self,
        lineitems_url: str,
        *,
        label: str,
        resource_id: str,
        score_maximum: float,
        tag: str | None = None,
    ) -> dict[str, Any]:
        """Create a line item in the container (``lineitem`` scope); never repeated.

        Returns:
            The created line item; its ``id`` is its URL.

        Raises:
            ConnectorUnavailable: No answer (it may or may not exist now: find it first
                next time).
        """
        body: dict[str, Any] = {
            "label": label,
            "scoreMaximum": score_maximum,
            "resourceId": resource_id,
        }
        if tag:
            body["tag"] = tag
        what = "line item POST"
        response = self._send(
            "POST",
            lineitems_url,
            what=what,
            json_body=body,
            content_type=MEDIA_LINEITEM,
            accept=MEDIA_LINEITEM,
            retry=False,
        )
        item = self._json(self._ok(response, lineitems_url, what), lineitems_url, what)
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise ConnectorDataError(
                f"{what}: the created line item has no id ({redact_url(lineitems_url)})",
                connector=CONNECTOR,
                status=response.status_code,
            )
        return item

    # ------------------------------------------------------------------ scores, results

    def post_score(self, lineitem_url: str, score: Mapping[str, Any]) -> bool:
        """POST a score to ``{lineitem}/scores`` (``score`` scope).

        Returns:
            ``True`` when the platform took it; ``False`` when it answered 409: it holds a
            score at least as new already (the same message delivered before).
        """
        url = with_path_suffix(lineitem_url, "/scores")
        what = "score POST"
        response = self._send(
            "POST", url, what=what, json_body=dict(score), content_type=MEDIA_SCORE
        )
        if response.status_code == 409:
            return False
        self._ok(response, url, what)
        return True

    def results(self, lineitem_url: str, *, user_id: str) -> list[dict[str, Any]]:
        """The results of one user on a line item (``result.readonly`` scope)."""
        url = with_query(with_path_suffix(lineitem_url, "/results"), user_id=user_id)
        return list(self._pages(url, what="results GET", accept=MEDIA_RESULTS))

    # ------------------------------------------------------------------ HTTP

    def _pages(self, url: str, *, what: str, accept: str) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            if next_url in seen or len(seen) >= MAX_PAGES:
                raise ConnectorDataError(
                    f"{what}: paging loops or never ends at {redact_url(next_url)}",
                    connector=CONNECTOR,
                )
            seen.add(next_url)
            current = next_url
            response = self._ok(self._send("GET", current, what=what, accept=accept), current, what)
            data = self._json(response, current, what)
            if not isinstance(data, list):
                raise ConnectorDataError(
                    f"{what}: {redact_url(current)} did not answer a JSON array",
                    connector=CONNECTOR,
                    status=response.status_code,
                )
            for item in data:
                if isinstance(item, dict):
                    yield item
            link = response.links.get("next", {}).get("url")
            # Kept exactly as sent: URLs are case-sensitive (pylti1p3 lower-cased them).
            next_url = urljoin(current, link) if link else None

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        accept: str | None = None,
        json_body: Any = None,
        content_type: str | None = None,
        form: Callable[[], dict[str, str]] | None = None,
        auth: bool = True,
        retry: bool = True,
    ) -> requests.Response:
        """Send one call with retries on outages and one fresh token on a 401.

        Returns:
            The response (any status but 401 with auth, 403 with auth, 429 and 5xx).
        """
        attempt = 0
        refreshed = False
        while True:
            headers: dict[str, str] = {}
            if accept:
                headers["Accept"] = accept
            token = ""
            if auth:
                token = self.access_token()
                headers["Authorization"] = f"Bearer {token}"
            kwargs: dict[str, Any] = {}
            if form is not None:
                kwargs["data"] = form()
            elif json_body is not None:
                kwargs["json"] = json_body
                headers["Content-Type"] = content_type or "application/json"
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                    **kwargs,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if retry and attempt < self.max_retries:
                    attempt += 1
                    self._sleep(BACKOFF * 2 ** (attempt - 1))
                    continue
                raise ConnectorUnavailable(
                    f"{what}: {type(exc).__name__} calling {redact_url(url)}",
                    connector=CONNECTOR,
                ) from None
            except requests.RequestException as exc:
                raise ConnectorDataError(
                    f"{what}: cannot call {redact_url(url)} ({type(exc).__name__})",
                    connector=CONNECTOR,
                ) from None
            status = response.status_code
            if status == 401 and auth and not refreshed:
                # The token expired early or was revoked: one fresh token, once.
                self._cache.drop(self._key, token)
                refreshed = True
                continue
            if status == 429 or status >= 500:
                wait = _retry_after(response, self._clock())
                if (
                    retry
                    and attempt < self.max_retries
                    and (wait is None or wait <= self.max_retry_wait)
                ):
                    attempt += 1
                    self._sleep(wait if wait is not None else BACKOFF * 2 ** (attempt - 1))
                    continue
                raise ConnectorUnavailable(
                    f"{what}: HTTP {status} from {redact_url(url)}",
                    connector=CONNECTOR,
                    status=status,
                    retry_after=wait,
                )
            if auth and status in (401, 403):
                self._cache.drop(self._key, token)
                raise ConnectorAuthError(
                    f"{what}: HTTP {status} from {redact_url(url)}; the platform refused "
                    "Tandem's access token (check the AGS services granted to the tool)",
                    connector=CONNECTOR,
                    status=status,
                )
            return response

    @staticmethod
    def _ok(response: requests.Response, url: str, what: str) -> requests.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        hint = {
            400: "the platform refused the request as malformed",
            404: "no such endpoint or line item (was the activity or column deleted?)",
            409: "the platform refused it as conflicting",
            422: "the platform could not process the content",
        }.get(status, "unexpected answer")
        raise ConnectorDataError(
            f"{what}: HTTP {status} from {redact_url(url)}: {hint}",
            connector=CONNECTOR,
            status=status,
        )

    @staticmethod
    def _json(response: requests.Response, url: str, what: str) -> Any:
        try:
            return response.json()
        except requests.JSONDecodeError:
            raise ConnectorDataError(
                f"{what}: {redact_url(url)} did not answer JSON",
                connector=CONNECTOR,
                status=response.status_code,
            ) from None


def _oauth_error(response: requests.Response) -> str | None:
    """The OAuth ``error`` code of a refused token request (a short safe word), if any."""
    try:
        data = response.json()
    except requests.JSONDecodeError:
        return None
    code = data.get("error") if isinstance(data, dict) else None
    if isinstance(code, str) and code.replace("_", "").isalpha() and len(code) <= 40:
        return code
    return None
