"""LTI Dynamic Registration 1.0: ``GET /lti/register/<token>``.

An admin runs ``tandem lti registration-url --org SLUG`` and pastes the printed URL into
the platform (Moodle: Site administration → Plugins → Activity modules → External tool →
Manage tools → "Tool URL" → "Add LTI Advantage"). The platform opens it in an iframe or
popup with ``openid_configuration`` (its OpenID configuration URL) and, usually,
``registration_token`` (a bearer token for its registration endpoint). Tandem then

1. checks the one-time token (unknown or used → 404, expired → 410) — nothing is fetched
   for a URL nobody issued;
2. fetches the OpenID configuration through :func:`lti.platform_http.platform_session`
   (timeouts, bounded retries, no redirects) and checks it
   (:func:`plugin.services.lti_dynreg.parse_openid_configuration`: required fields, https,
   issuer on the configuration's origin);
3. POSTs its registration (login, launch and JWKS URLs from ``TANDEM_BASE_URL``, AGS and
   NRPS scopes, claims, resource-link and deep-linking messages, custom parameters) with
   the registration token as bearer;
4. stores the client id and deployment id under the token's organization and uses the
   token up — one transaction, committed with the 200 page (lti/db.py), so a failure at
   any step changes nothing and the URL can be opened again;
5. answers a page that posts ``{subject: "org.imsglobal.lti.close"}`` to the platform.

Every failure is a small HTML page (``lti/dynreg_error.html``) saying what went wrong:
4xx for what the request carried, 502 for what the platform answered. URLs in messages
lose their query strings; the registration token is never shown or logged.

``DYNREG_ALLOW_HTTP`` (default False) accepts ``http://`` platform URLs on localhost, for
a development platform.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests
from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from lti.db import get_session
from lti.i18n import _, error_text, lazy_gettext
from lti.lti_views import CLAIMS, CUSTOM_PARAMETERS, SCOPES, TOOL_DESCRIPTION, TOOL_TITLE
from lti.platform_http import platform_session
from plugin.errors import PluginError, ValidationError
from plugin.models import Organization
from plugin.services import lti_dynreg as dynreg

__all__ = ["MAX_RESPONSE_BYTES", "PlatformFailure", "bp", "registration_url"]

log = logging.getLogger(__name__)

bp = Blueprint("dynreg", __name__, url_prefix="/lti")

#: The largest answer read from a platform (an OpenID configuration is a few KB).
MAX_RESPONSE_BYTES = 1_000_000
#: A registration token is a JWT (Moodle) or an opaque string; longer is not plausible.
MAX_REGISTRATION_TOKEN = 8192
_EXCERPT = 300

#: What to do next, by status (lazy: translated into the language of the error page).
_HINTS: dict[int, Any] = {
    404: lazy_gettext(
        "Ask a Tandem administrator for a new registration URL "
        "(tandem lti registration-url --org …). Each URL registers one platform."
    ),
    410: lazy_gettext(
        "Ask a Tandem administrator for a new registration URL "
        "(tandem lti registration-url --org …)."
    ),
    400: lazy_gettext(
        "Nothing was registered and the registration URL is still valid: fix the cause and "
        "start the registration again with the same URL."
    ),
    409: lazy_gettext(
        "Nothing was stored in Tandem and the registration URL is still valid. If the "
        "platform now lists a new Tandem tool from this attempt, delete that entry there."
    ),
    502: lazy_gettext(
        "Nothing was stored in Tandem and the registration URL is still valid: try again "
        "once the platform answers correctly."
    ),
}


class PlatformFailure(Exception):
    """The platform could not be reached or answered something unusable (HTTP 502).

    The message is shown to the admin who registers the platform: raise it translated
    (``_("%(what)s at %(url)s …", …)``), with URLs redacted.
    """

    status_code = 502

    def __init__(self, message: str) -> None:
        """Create the failure; ``message`` must already be translated and redacted."""
        super().__init__(message)
        self.message = message


def registration_url(base_url: str, token: str) -> str:
    """The URL an admin pastes into the platform: ``{base}/lti/register/<token>``."""
    return f"{base_url.rstrip('/')}/lti/register/{token}"


def _allow_http() -> bool:
    return bool(current_app.config.get("DYNREG_ALLOW_HTTP", False))


def _no_store(response: Response) -> Response:
    # The URL carries a one-time token: keep it out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _error_page(status: int, message: str) -> Response:
    hint = str(_HINTS.get(status, _HINTS[400] if status < 500 else _HINTS[502]))
    html = render_template(
        "lti/dynreg_error.html", status=status, message=message, hint=hint, title=TOOL_TITLE
    )
    return _no_store(Response(html, status=status, mimetype="text/html"))


def _read_body(response: requests.Response, *, what: str, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise PlatformFailure(
                    _(
                        "%(what)s at %(url)s is larger than %(limit)s KB",
                        what=what,
                        url=dynreg.redact_url(url),
                        limit=MAX_RESPONSE_BYTES // 1000,
                    )
                )
            chunks.append(chunk)
    except requests.RequestException:
        raise PlatformFailure(
            _(
                "%(what)s at %(url)s broke off while answering",
                what=what,
                url=dynreg.redact_url(url),
            )
        ) from None
    return b"".join(chunks)


def _call(method: str, url: str, *, what: str, **kwargs: Any) -> tuple[int, bytes, str]:
    """Send one request to the platform; return status, body and content type."""
    try:
        response = platform_session().request(
            method, url, allow_redirects=False, stream=True, **kwargs
        )
    except requests.Timeout:
        raise PlatformFailure(
            _("%(what)s at %(url)s did not answer in time", what=what, url=dynreg.redact_url(url))
        ) from None
    except requests.RequestException as exc:
        log.info(
            "dynamic registration: %s %s failed (%s)",
            method,
            dynreg.redact_url(url),
            type(exc).__name__,
        )
        raise PlatformFailure(
            _("could not connect to %(what)s at %(url)s", what=what, url=dynreg.redact_url(url))
        ) from None
    with response:
        body = _read_body(response, what=what, url=url)
    return response.status_code, body, response.headers.get("Content-Type", "")


def _json(body: bytes, *, what: str, url: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise PlatformFailure(
            _("%(what)s at %(url)s is not JSON", what=what, url=dynreg.redact_url(url))
        ) from None


def _excerpt(body: bytes, content_type: str) -> str:
    """A short, single-line reason from a platform's error answer (OAuth, Canvas or text)."""
    text = ""
    if "json" in content_type.lower():
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            parts = [data.get("error"), data.get("error_description")]
            errors = data.get("errors")
            if isinstance(errors, list):
                parts.extend(e.get("message", e) if isinstance(e, dict) else e for e in errors)
            text = ": ".join(str(p) for p in parts if p)
    elif content_type.lower().startswith("text/plain") or not content_type:
        text = body.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    if len(text) > _EXCERPT:
        text = text[: _EXCERPT - 1] + "…"
    return text


def _registration_token() -> str | None:
    value = (request.args.get("registration_token") or "").strip()
    if not value:
        return None
    if len(value) > MAX_REGISTRATION_TOKEN or not all(33 <= ord(c) < 127 for c in value):
        raise ValidationError(_("registration_token is malformed"), field="registration_token")
    return value


def _fetch_configuration(url: str, *, allow_http: bool) -> dynreg.PlatformConfiguration:
    what = _("the platform's OpenID configuration")
    status, body, _type = _call("GET", url, what=what, headers={"Accept": "application/json"})
    if status != 200:
        raise PlatformFailure(
            _(
                "%(what)s at %(url)s answered HTTP %(status)s (expected 200)",
                what=what,
                url=dynreg.redact_url(url),
                status=status,
            )
        )
    data = _json(body, what=what, url=url)
    return dynreg.parse_openid_configuration(data, config_url=url, allow_http=allow_http)


def _register_with(
    platform: dynreg.PlatformConfiguration, payload: dict[str, Any], bearer: str | None
) -> dynreg.RegistrationResult:
    what = _("the platform's registration endpoint")
    url = platform.registration_endpoint
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    status, body, content_type = _call(
        "POST", url, what=what, data=json.dumps(payload).encode("utf-8"), headers=headers
    )
    if not 200 <= status < 300:
        reason = _excerpt(body, content_type)
        if reason:
            raise PlatformFailure(
                _(
                    "the platform refused the registration: %(what)s at %(url)s answered "
                    "HTTP %(status)s (%(reason)s)",
                    what=what,
                    url=dynreg.redact_url(url),
                    status=status,
                    reason=reason,
                )
            )
        raise PlatformFailure(
            _(
                "the platform refused the registration: %(what)s at %(url)s answered "
                "HTTP %(status)s",
                what=what,
                url=dynreg.redact_url(url),
                status=status,
            )
        )
    data = _json(body, what=_("the answer of the platform's registration endpoint"), url=url)
    try:
        return dynreg.parse_registration_response(data)
    except ValidationError as exc:
        raise PlatformFailure(exc.message) from None


def _services(scopes: list[str]) -> list[str]:
    services = []
    if any("/lti-ags/" in s for s in scopes):
        services.append(_("grades (Assignment and Grade Services)"))
    if any("/lti-nrps/" in s for s in scopes):
        services.append(_("course rosters (Names and Role Provisioning)"))
    return services


def _register(token: str) -> Response:
    session = get_session()
    grant = dynreg.check_registration_token(session, token)
    org = session.get(Organization, grant.org_id)
    if org is None:
        raise dynreg.RegistrationTokenExpired(
            _("the organization this registration URL was made for no longer exists"),
            field="org",
        )
    allow_http = _allow_http()
    config_url = dynreg.check_openid_configuration_url(
        request.args.get("openid_configuration"), allow_http=allow_http
    )
    bearer = _registration_token()
    platform = _fetch_configuration(config_url, allow_http=allow_http)
    payload = dynreg.build_registration_request(
        platform,
        base_url=str(current_app.config["BASE_URL"]),
        client_name=TOOL_TITLE,
        description=TOOL_DESCRIPTION,
        scopes=SCOPES,
        claims=CLAIMS,
        custom_parameters=CUSTOM_PARAMETERS,
    )
    result = _register_with(platform, payload, bearer)
    reg = dynreg.complete_registration(
        session, token=token, platform=platform, result=result, allow_http=allow_http
    )
    log.info(
        "dynamic registration: %s (client id %s) registered for organization %s",
        reg.issuer,
        reg.client_id,
        org.slug,
    )
    html = render_template(
        "lti/dynreg_done.html",
        org_name=org.name,
        org_slug=org.slug,
        registration=reg,
        deployment_id=result.deployment_id,
        auto_approve=grant.auto_approve,
        is_moodle=(platform.product_family_code or "").lower() == "moodle",
        services=_services(payload["scope"].split()),
    )
    return _no_store(Response(html, status=200, mimetype="text/html"))


@bp.get("/register/<token>")
def register(token: str) -> Response:
    """Register Tandem with the platform that opened this one-time URL (LTI DR 1.0)."""
    try:
        return _register(token)
    except PluginError as exc:
        return _error_page(exc.status_code, error_text(exc))
    except PlatformFailure as exc:
        return _error_page(exc.status_code, exc.message)
    except HTTPException as exc:
        return _error_page(exc.code or 400, exc.description or exc.name)
