"""The HTTP client for every call Tandem's web layer makes to an LTI platform.

pylti1p3 calls ``requests`` without a timeout (lti.md §1.1); a platform that hangs would
hold a worker forever. Every call to a platform — its JWKS, its OpenID configuration and
registration endpoint (Dynamic Registration), its token endpoint and NRPS roster — goes
through :func:`platform_session`, a ``requests.Session`` that

* applies a (connect, read) timeout to every request that does not set its own;
* retries idempotent requests (GET, HEAD) on connection errors, 429 and 5xx, at most
  twice, honouring ``Retry-After`` up to :data:`MAX_RETRY_AFTER` seconds (an interactive
  request cannot wait longer; a longer wait makes the call fail now);
* never retries POSTs (a registration or token request may have been processed).

``TANDEM_PLATFORM_TIMEOUT`` (seconds, default 5) sets the read timeout.
"""

from __future__ import annotations

from typing import Any

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = ["CONNECT_TIMEOUT", "MAX_RETRY_AFTER", "PlatformSession", "platform_session"]

CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 5.0
#: The longest ``Retry-After`` an interactive request waits for before retrying.
MAX_RETRY_AFTER = 2.0


class _Retry(Retry):
    """urllib3 retry that caps ``Retry-After`` (a platform may ask for minutes)."""

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        if value is None:
            return None
        return min(float(value), MAX_RETRY_AFTER)


class PlatformSession(requests.Session):
    """A ``requests.Session`` with a default timeout and bounded retries."""

    def __init__(self, *, read_timeout: float = DEFAULT_READ_TIMEOUT, retries: int = 2) -> None:
        """Mount the retrying adapter on http and https."""
        super().__init__()
        self.timeout = (CONNECT_TIMEOUT, float(read_timeout))
        retry = _Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.2,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.headers["User-Agent"] = "Tandem-LTI/1.0"

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send with the default timeout unless the caller gave one."""
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def platform_session() -> PlatformSession:
    """The client for calls to platforms, one per app (connection pooling)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session: PlatformSession | None = app.extensions.get("tandem.platform_http")
    if session is None:
        session = PlatformSession(
            read_timeout=float(app.config.get("PLATFORM_TIMEOUT") or DEFAULT_READ_TIMEOUT)
        )
        app.extensions["tandem.platform_http"] = session
    return session
