"""The HTTP helper every connector shares: timeouts, retries, classification, redaction.

One :class:`HttpClient` per connector call site wraps a :class:`requests.Session` (built by
:func:`build_session`: connection pooling, cookies kept across calls — SuccessFactors ties
server-side paging to its session cookie — and no automatic retries of its own):

* **Every call has a (connect, read) timeout** and never follows redirects (a redirect
  would carry our ``Authorization`` header to wherever it points).
* **Retries** after a connection error, a timeout, HTTP 429 or 5xx, at most
  :attr:`RetryPolicy.max_attempts` tries in all, waiting ``Retry-After`` (seconds or an
  HTTP date) when the server sent one, else an exponential backoff with *full jitter*
  (a random wait between 0 and ``backoff · 2^(n-1)``, capped at ``max_backoff``), so many
  workers do not retry in lock-step. A ``Retry-After`` longer than
  :attr:`RetryPolicy.max_retry_wait` is not slept through: the call raises
  :class:`~plugin.errors.ConnectorUnavailable` with ``retry_after`` at once, and the caller
  (the sync run, the outbox) comes back that much later.
* **Writes are not repeated blindly.** ``GET``, ``HEAD``, ``PUT``, ``DELETE`` and
  ``OPTIONS`` are retried; a ``POST`` only when the caller says it is idempotent
  (``idempotent=True``). A non-idempotent ``POST`` is still retried when the server cannot
  have processed it: a connect timeout (nothing was sent) or HTTP 429 (refused before
  processing). Anything else — a read timeout, a reset connection, a 5xx — leaves its
  outcome unknown and raises ``ConnectorUnavailable`` for the caller to resolve (the
  SuccessFactors sink reads the learning history before posting again).
* **Classification** happens once: timeouts, connection errors, 429 and 5xx →
  :class:`~plugin.errors.ConnectorUnavailable`; 401/403 →
  :class:`~plugin.errors.ConnectorAuthError` (:func:`raise_for_status`); other 4xx, a 3xx
  and a body that is not the JSON expected (:func:`json_body`) →
  :class:`~plugin.errors.ConnectorDataError`.
* **Redaction.** Messages and log lines name the call (``what``), the status and the URL
  through :func:`redact_url` — no user info, and the *values* of query parameters replaced
  by ``…`` (OData filters carry user ids; some APIs put tokens in the query). Headers,
  bodies and exception texts of the transport are never quoted; secrets registered with
  :meth:`HttpClient.add_secret` are scrubbed from any text that still passes
  (:func:`redact_text`).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from plugin.errors import ConnectorAuthError, ConnectorDataError, ConnectorUnavailable

__all__ = [
    "DEFAULT_TIMEOUT",
    "SAFE_METHODS",
    "HttpClient",
    "RetryPolicy",
    "backoff_delay",
    "build_session",
    "json_body",
    "raise_for_status",
    "redact_text",
    "redact_url",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

#: (connect, read) seconds of every call unless the caller says otherwise.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 60.0)
#: Methods repeated after a failure without the caller's say-so.
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: What replaces a secret in text.
MASK = "***"
# An OData key predicate in a path segment: User('cgrant'), Entity(a='x',b=2).
_KEY_PREDICATE = re.compile(r"\([^/]*\)")

# "Bearer abc…", "Basic abc…", "access_token=…", "password: …" in free text.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)\b(access_token|refresh_token|client_secret|password|assertion|api_key|wstoken)"
        r"(\"?\s*[:=]\s*\"?)[^\s\"&,;]+"
    ),
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one call is retried.

    Attributes:
        max_attempts: Tries in all (1 = no retry).
        backoff: Upper bound of the first jittered wait (seconds), doubled each retry.
        max_backoff: Upper bound of any jittered wait.
        max_retry_wait: The longest ``Retry-After`` slept through inside the call; a longer
            one raises :class:`~plugin.errors.ConnectorUnavailable` with ``retry_after``.
        default_429_wait: The wait assumed for a 429 without ``Retry-After`` (SAP asks
            300 s for SuccessFactors HXM); ``None`` uses the jittered backoff.
    """

    max_attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_wait: float = 60.0
    default_429_wait: float | None = None


def build_session(*, pool_size: int = 10, user_agent: str = "Tandem") -> requests.Session:
    """A session with a connection pool and no automatic retries (:class:`HttpClient` retries).

    Args:
        pool_size: Connections kept per host.
        user_agent: The ``User-Agent`` header.
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


# --------------------------------------------------------------------------- redaction


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path?name=…`` — safe in messages and logs.

    User info is dropped and every query *value* is elided (OData ``$filter`` values name
    people; some APIs put tokens in the query); the names stay, so the call can be told
    apart. OData key predicates in the path (``User('cgrant')``) become ``User(…)``. The
    fragment is dropped.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "<malformed URL>"
    query = "&".join(f"{name}=…" for name, _ in pairs)
    path = _KEY_PREDICATE.sub("(…)", parts.path)
    return urlunsplit((parts.scheme, host + port, path, query, ""))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets and anything that looks like a credential masked."""
    out = text
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        out = out.replace(secret, MASK)
    out = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} {MASK}", out)
    return _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", out)


# --------------------------------------------------------------------------- waits


def retry_after_seconds(response: requests.Response, *, now: float) -> float | None:
    """The server's ``Retry-After`` in seconds (a number or an HTTP date), if it sent one."""
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


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base · 2^(attempt-1))]``.

    Args:
        attempt: The retry about to happen (1 for the first).
        base: The bound of the first wait.
        cap: The bound of any wait.
        rng: Uniform in ``[0, 1)`` (injected by tests).
    """
    bound = min(cap, base * float(2 ** max(0, attempt - 1)))
    return max(0.0, bound * rng())


# --------------------------------------------------------------------------- responses


def raise_for_status(
    response: requests.Response,
    *,
    connector: str,
    what: str,
    detail: str | None = None,
    secrets: Iterable[str] = (),
) -> requests.Response:
    """Return a 2xx response; raise the classified error for anything else.

    Args:
        response: The final response (after retries).
        connector: The connector name for the error.
        what: The call, e.g. ``User page 3``.
        detail: A vendor error code/message already made safe to show (no PII), appended.
        secrets: Scrubbed from the message, to be sure.

    Raises:
        ConnectorAuthError: 401 or 403.
        ConnectorUnavailable: 429 or 5xx (when the caller did not retry them away).
        ConnectorDataError: Any other non-2xx status (3xx included: redirects are not
            followed).
    """
    status = response.status_code
    if 200 <= status < 300:
        return response
    where = redact_url(response.url or "")
    suffix = f": {detail}" if detail else ""
    message = redact_text(f"{what}: HTTP {status} from {where}{suffix}", secrets)
    if status in (401, 403):
        raise ConnectorAuthError(message, connector=connector, status=status)
    if status == 429 or status >= 500:
        raise ConnectorUnavailable(message, connector=connector, status=status)
    raise ConnectorDataError(message, connector=connector, status=status)


def json_body(response: requests.Response, *, connector: str, what: str) -> Any:
    """The decoded JSON body, or :class:`~plugin.errors.ConnectorDataError` (e.g. an HTML page)."""
    try:
        return response.json()
    except (requests.JSONDecodeError, ValueError, UnicodeDecodeError):
        kind = (response.headers.get("Content-Type") or "no content type").split(";")[0]
        raise ConnectorDataError(
            f"{what}: {redact_url(response.url or '')} answered {kind}, not readable JSON "
            "(an error page or a cut-off answer)",
            connector=connector,
            status=response.status_code,
        ) from None


# --------------------------------------------------------------------------- client


Payload = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


class HttpClient:
    """Sends requests with timeouts, classified failures and jittered, capped retries.

    Example::

        http = HttpClient(connector="successfactors", session=build_session())
        response = http.request("GET", url, what="User page 1", params={"$top": "1"})
    """

    def __init__(
        self,
        *,
        connector: str,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        """Configure the client; no I/O.

        Args:
            connector: The connector name carried by every error.
            session: The HTTP session (a :func:`build_session` by default).
            timeout: Seconds (connect, read) of every call.
            policy: Retry limits; :class:`RetryPolicy` defaults otherwise.
            sleep: Waits between tries (injected by tests).
            clock: Unix time, for HTTP-date ``Retry-After`` values.
            rng: Uniform in ``[0, 1)``, for the jitter.
        """
        self.connector = connector
        self.session = session if session is not None else build_session()
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    @property
    def secrets(self) -> frozenset[str]:
        """The registered secrets (scrubbed from every message)."""
        with self._lock:
            return frozenset(self._secrets)

    def add_secret(self, secret: str | None) -> None:
        """Register a token, password or assertion to scrub from messages and logs."""
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def safe(self, text: str) -> str:
        """``text`` with the registered secrets masked."""
        return redact_text(text, self.secrets)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        data: Payload | None = None,
        json: Any = None,
        auth: tuple[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: float | tuple[float, float] | None = None,
        final: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        """Send one request, retrying what can be retried; return the final response.

        The response may still be a 4xx (or a 3xx): the caller reads vendor error bodies
        and calls :func:`raise_for_status`. 429 and 5xx never come back unless retries
        ran out — they raise instead.

        Args:
            method: ``GET``, ``POST`` …
            url: Absolute URL (query parameters in ``params`` or already in it).
            what: Names the call in messages, e.g. ``token request``.
            params: Query parameters.
            headers: Headers, or a callable giving fresh ones for each try (a token).
            data: A form body, or a callable giving a fresh one for each try (an assertion).
            json: A JSON body.
            auth: HTTP basic ``(user, password)``.
            idempotent: Whether repeating the request is harmless; default: by method.
            timeout: Overrides the client's timeout for this call.
            final: Says a 429/5xx answer is an answer, not a failure, and comes back
                as is (SuccessFactors Learning answers "no results" with a 500).

        Raises:
            ConnectorUnavailable: Timeout, connection error, 429 or 5xx after the last try,
                or a ``Retry-After`` over the cap (``retry_after`` set).
            ConnectorDataError: The request cannot be sent at all (a malformed URL).
        """
        method = method.upper()
        repeatable = idempotent if idempotent is not None else method in SAFE_METHODS
        policy = self.policy
        where = redact_url(url)
        attempt = 1
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=dict(params) if params is not None else None,
                    headers=dict(headers() if callable(headers) else headers or {}),
                    data=dict(data() if callable(data) else data) if data is not None else None,
                    json=json,
                    auth=auth,
                    timeout=timeout if timeout is not None else self.timeout,
                    allow_redirects=False,
                )
            except requests.ConnectTimeout:
                # Nothing reached the server: safe to repeat whatever the method.
                if self._again(attempt, what, where, "connect timeout", None):
                    attempt += 1
                    continue
                raise ConnectorUnavailable(
                    f"{what}: {where} did not accept a connection in time "
                    f"({attempt} tr{'y' if attempt == 1 else 'ies'})",
                    connector=self.connector,
                ) from None
            except (requests.Timeout, requests.ConnectionError) as exc:
                kind = "timeout" if isinstance(exc, requests.Timeout) else "connection error"
                if repeatable and self._again(attempt, what, where, kind, None):
                    attempt += 1
                    continue
                outcome = "" if repeatable else "; the request may or may not have been processed"
                raise ConnectorUnavailable(
                    f"{what}: {kind} calling {where}{outcome}",
                    connector=self.connector,
                ) from None
            except requests.RequestException as exc:
                raise ConnectorDataError(
                    f"{what}: cannot call {where} ({type(exc).__name__})",
                    connector=self.connector,
                ) from None

            status = response.status_code
            if status != 429 and status < 500:
                return response
            if final is not None and final(response):
                return response
            wait = retry_after_seconds(response, now=self._clock())
            if wait is None and status == 429 and policy.default_429_wait is not None:
                wait = policy.default_429_wait
            # 429 is refused before processing; a 5xx after a POST may have done the work.
            may_repeat = repeatable or status == 429
            if wait is not None and wait > policy.max_retry_wait:
                log.warning(
                    "%s: HTTP %d from %s; the server asks to wait %.0f s (over the %.0f s "
                    "cap): giving up for now",
                    what,
                    status,
                    where,
                    wait,
                    policy.max_retry_wait,
                )
                raise ConnectorUnavailable(
                    f"{what}: HTTP {status} from {where}; retry after {wait:.0f} s",
                    connector=self.connector,
                    status=status,
                    retry_after=wait,
                )
            if may_repeat and self._again(attempt, what, where, f"HTTP {status}", wait):
                attempt += 1
                continue
            outcome = "" if may_repeat else "; the request may or may not have been processed"
            raise ConnectorUnavailable(
                f"{what}: HTTP {status} from {where}{outcome}",
                connector=self.connector,
                status=status,
                retry_after=wait,
            )

    def _again(self, attempt: int, what: str, where: str, reason: str, wait: float | None) -> bool:
        """Sleep before the next try and return True, or False when no try is left."""
        policy = self.policy
        if attempt >= policy.max_attempts:
            log.warning("%s: %s from %s; no retry left (%d tries)", what, reason, where, attempt)
            return False
        delay = (
            wait
            if wait is not None
            else backoff_delay(attempt, base=policy.backoff, cap=policy.max_backoff, rng=self._rng)
        )
        log.info(
            "%s: %s from %s; retry %d of %d in %.2f s",
            what,
            reason,
            where,
            attempt,
            policy.max_attempts - 1,
            delay,
        )
        self._sleep(delay)
        return True
