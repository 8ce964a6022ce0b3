"""The LTI endpoints that need no launch: the tool's JWKS and its configuration.

* ``GET /lti/jwks`` — the tool's public keys (current and previous), for platforms that
  verify what Tandem signs (deep-linking responses, service token requests).
* ``GET /lti/config.json`` — everything an admin types into a platform to register Tandem
  by hand, built from ``TANDEM_BASE_URL``, with the Moodle form field of each value.

Both create the first tool key if there is none yet (a write in the request's session,
committed with the response).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify

from lti.db import get_session
from lti.secrets import get_secret_box
from plugin.services import lti_registrations as regs

__all__ = [
    "CLAIMS",
    "CUSTOM_PARAMETERS",
    "MESSAGE_TYPES",
    "SCOPES",
    "TOOL_DESCRIPTION",
    "TOOL_TITLE",
    "bp",
    "tool_configuration",
]

bp = Blueprint("lti", __name__, url_prefix="/lti")

TOOL_TITLE = "Tandem"
TOOL_DESCRIPTION = (
    "Reverse-mentoring programs: junior employees mentor senior leaders on digital tools, "
    "AI and new ways of working."
)
#: AGS (grade sync and column management) and NRPS scopes Tandem asks for.
SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)
#: OpenID claims Tandem needs to link LMS users to HRIS people.
CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")
MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")
#: Custom parameters (Moodle substitutions) used by the identity link rule.
CUSTOM_PARAMETERS = {
    "person_sourcedid": "$Person.sourcedId",
    "user_username": "$User.username",
}
JWKS_MAX_AGE = 300


def tool_configuration(base_url: str, *, public_key_pem: str, kid: str) -> dict[str, Any]:
    """The tool's registration data for a deployment at ``base_url``.

    Args:
        base_url: ``TANDEM_BASE_URL``, e.g. ``https://tandem.example.com``.
        public_key_pem: The current tool key (for platforms that want a key, not a URL).
        kid: Its key id.
    """
    base = base_url.rstrip("/")
    login = f"{base}/lti/login"
    launch = f"{base}/lti/launch"
    jwks = f"{base}/lti/jwks"
    custom_lines = "\n".join(f"{k}={v}" for k, v in CUSTOM_PARAMETERS.items())
    return {
        "title": TOOL_TITLE,
        "description": TOOL_DESCRIPTION,
        "domain": urlsplit(base).netloc,
        "base_url": base,
        "initiate_login_uri": login,
        "redirect_uris": [launch],
        "target_link_uri": launch,
        "deep_linking_url": launch,
        "jwks_uri": jwks,
        "public_key_pem": public_key_pem,
        "kid": kid,
        "scopes": list(SCOPES),
        "claims": list(CLAIMS),
        "messages": [{"type": t, "target_link_uri": launch} for t in MESSAGE_TYPES],
        "custom_parameters": dict(CUSTOM_PARAMETERS),
        "moodle": {
            "where": (
                "Site administration → Plugins → Activity modules → External tool → "
                "Manage tools → configure a tool manually"
            ),
            "fields": {
                "Tool name": TOOL_TITLE,
                "Tool URL": launch,
                "Tool description": TOOL_DESCRIPTION,
                "LTI version": "LTI 1.3",
                "Public key type": "Keyset URL",
                "Public keyset": jwks,
                "Initiate login URL": login,
                "Redirection URI(s)": launch,
                "Custom parameters": custom_lines,
                "Default launch container": (
                    "Embed, without blocks (New window if browsers block third-party cookies)"
                ),
                "Supports Deep Linking (Content-Item Message)": "yes",
                "Content Selection URL": launch,
                "IMS LTI Assignment and Grade Services": (
                    "Use this service for grade sync and column management"
                ),
                "IMS LTI Names and Role Provisioning": (
                    "Use this service to retrieve members' information as per privacy settings"
                ),
                "Share launcher's name with tool": "Always",
                "Share launcher's email with tool": "Always",
            },
            "notes": [
                "Redirection URI(s) must match exactly, one URI per line.",
                "Prefer 'Keyset URL': an 'RSA key' pasted from public_key_pem stops working "
                "when the tool keys are rotated.",
                "After saving, the tool's 'View configuration details' icon shows Platform ID, "
                "Client ID, Deployment ID, Public keyset URL, Access token URL and "
                "Authentication request URL. Register them in Tandem with: tandem lti "
                "add-platform --org SLUG --issuer <Platform ID> --client-id <Client ID> "
                "--deployment-id <Deployment ID> --auth-url <Authentication request URL> "
                "--token-url <Access token URL> --jwks-url <Public keyset URL>",
            ],
        },
    }


@bp.get("/jwks")
def jwks() -> Response:
    """The tool's JWKS: ``{"keys": [current, previous]}``, cacheable for five minutes."""
    session = get_session()
    regs.ensure_tool_key(session, get_secret_box())
    response = jsonify(regs.published_jwks(session))
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


@bp.get("/config.json")
def config_json() -> Response:
    """Everything a manual registration on a platform (Moodle first) needs."""
    key = regs.ensure_tool_key(get_session(), get_secret_box())
    data = tool_configuration(
        str(current_app.config["BASE_URL"]), public_key_pem=key.public_pem, kid=key.kid
    )
    return jsonify(data)
