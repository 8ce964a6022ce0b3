"""The browser session a launch opens: who is acting, in which organization, in which role.

A successful LTI launch calls :func:`start` (the only place a session begins); every page
then calls :func:`require` and acts as ``require().actor()``. Roles come from the launch,
never from a request parameter.

The session lives in the shared LTI store (:class:`plugin.services.lti_cache.LtiCache`,
in the database), so any host serves the next request. The browser holds a random token
in the ``tandem_session`` cookie; the store keys the session by the token's SHA-256, so a
database reader cannot replay cookies. Inside an LMS iframe the cookie is third-party:
behind TLS it is ``Secure; SameSite=None; Partitioned`` (CHIPS), over plain HTTP (the
development platform, same origin) ``SameSite=Lax``. When a browser refuses third-party
cookies altogether, the OIDC login page offers to open Tandem in a new window.

Every state-changing form carries the session's CSRF token (:func:`csrf_token` in
templates, checked by :func:`check_csrf`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import BadRequest, Unauthorized

from lti import i18n
from lti.db import get_session
from lti.i18n import _
from plugin.access import Actor, ActorRole
from plugin.services.lti_cache import LtiCache

__all__ = [
    "COOKIE",
    "SESSION_SECONDS",
    "WebSession",
    "check_csrf",
    "current",
    "end",
    "init_app",
    "is_secure_request",
    "require",
    "set_cookie",
    "start",
]

COOKIE = "tandem_session"
#: How long a launch's session lasts (a working day); a new launch starts a new one.
SESSION_SECONDS = 8 * 3600
_PREFIX = "web:"


@dataclass(frozen=True, slots=True)
class WebSession:
    """One launched browser session.

    Attributes:
        org_id: The organization of the launch's registration.
        person_id: The person the LTI user is linked to.
        role: ``participant``, ``coordinator`` or ``admin`` (from the launch's roles).
        display_name: How pages greet them.
        locale: The launch's locale (``de-DE``, ``en``), for the language of the pages.
        registration_id: The platform registration that launched.
        link_id: The :class:`plugin.models.LtiLink` launched from, if any.
        program_id: The program the link opens, if any.
        activity: The activity the link opens (see :mod:`lti.activities`).
        launch_id: pylti1p3's launch id (deep linking and services restore the launch).
        csrf: The token every POST form must carry.
    """

    org_id: int
    person_id: int
    role: str
    display_name: str
    locale: str
    registration_id: int | None
    link_id: int | None
    program_id: int | None
    activity: str | None
    launch_id: str | None
    csrf: str

    @property
    def is_coordinator(self) -> bool:
        """Whether the launch gave coordinator rights (Instructor … or an HR admin's)."""
        return self.role in (ActorRole.COORDINATOR.value, ActorRole.ADMIN.value)

    @property
    def is_admin(self) -> bool:
        """Whether the launch came from an institution or system administrator (HR admin)."""
        return self.role == ActorRole.ADMIN.value

    def actor(self) -> Actor:
        """The core's actor for this session (audit label ``lti:person:<id>``)."""
        label = f"lti:person:{self.person_id}"
        if self.is_admin:
            return Actor.admin(self.org_id, label, person_id=self.person_id)
        if self.is_coordinator:
            return Actor.coordinator(self.org_id, self.person_id, label=label)
        return Actor.participant(self.org_id, self.person_id, label=label)


def _hash(token: str) -> str:
    return _PREFIX + hashlib.sha256(token.encode()).hexdigest()


def is_secure_request() -> bool:
    """HTTPS as the browser sees it: the request (after ProxyFix) or an https base URL."""
    return bool(request.is_secure) or str(current_app.config["BASE_URL"]).startswith("https:")


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    """Set a cookie that survives an LMS iframe (``SameSite=None; Partitioned`` on HTTPS)."""
    secure = is_secure_request()
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="None" if secure else "Lax",
        partitioned=secure,
    )


def start(
    response: Response,
    *,
    org_id: int,
    person_id: int,
    role: ActorRole | str,
    display_name: str,
    locale: str = "en",
    registration_id: int | None = None,
    link_id: int | None = None,
    program_id: int | None = None,
    activity: str | None = None,
    launch_id: str | None = None,
) -> WebSession:
    """Open a session (written in the request's database session) and set its cookie.

    Call only after a launch was validated (or, in tests, to stand in for one).
    """
    role_value = ActorRole(role).value
    token = secrets.token_urlsafe(32)
    ws = WebSession(
        org_id=org_id,
        person_id=person_id,
        role=role_value,
        display_name=display_name,
        locale=locale or "en",
        registration_id=registration_id,
        link_id=link_id,
        program_id=program_id,
        activity=activity,
        launch_id=launch_id,
        csrf=secrets.token_urlsafe(24),
    )
    LtiCache(get_session()).set(_hash(token), asdict(ws), SESSION_SECONDS)
    set_cookie(response, COOKIE, token, max_age=SESSION_SECONDS)
    g.tandem_web_session = ws
    i18n.session_loaded()
    return ws


def current() -> WebSession | None:
    """The session of this request's cookie, or None (no cookie, expired, unknown)."""
    if "tandem_web_session" in g:
        cached: WebSession | None = g.tandem_web_session
        return cached
    ws: WebSession | None = None
    token = request.cookies.get(COOKIE)
    if token and len(token) <= 200:
        data: Any = LtiCache(get_session()).get(_hash(token))
        if isinstance(data, dict):
            try:
                ws = WebSession(**data)
            except TypeError:  # a session written by an older release
                ws = None
    g.tandem_web_session = ws
    if ws is not None:
        i18n.session_loaded()
    return ws


def require() -> WebSession:
    """The current session.

    Raises:
        Unauthorized: No session: the page must be opened from the course (a launch).
    """
    ws = current()
    if ws is None:
        raise Unauthorized(
            _(
                "Your Tandem session has ended or was never started. Open Tandem again from "
                "your course page."
            )
        )
    return ws


def end(response: Response) -> None:
    """Forget the current session (log out)."""
    token = request.cookies.get(COOKIE)
    if token:
        LtiCache(get_session()).delete(_hash(token))
    response.delete_cookie(COOKIE, path="/")


def check_csrf(ws: WebSession) -> None:
    """Refuse a POST whose ``csrf_token`` field is not the session's.

    Raises:
        BadRequest: Missing or wrong token (a form from another site, or a stale page).
    """
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, ws.csrf):
        raise BadRequest(
            _("This form has expired or did not come from Tandem. Reload the page and try again.")
        )


def init_app(app: Flask) -> None:
    """Make ``csrf_token()`` and ``web_session`` available in templates."""

    @app.context_processor
    def _template_helpers() -> dict[str, Any]:
        def csrf_token() -> str:
            ws = current()
            return ws.csrf if ws else ""

        return {"csrf_token": csrf_token, "web_session": current}
