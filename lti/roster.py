"""NRPS: a coordinator imports the course roster into a program.

``POST /app/programs/<id>/roster-import`` (from the coordinator dashboard, CSRF-checked)
reads every page of the course's membership container — the NRPS URL of the link the
coordinator launched from — following ``Link: <…>; rel="next"`` headers exactly as sent
(pylti1p3 lower-cases them, lti.md §1.1), with a service token of the registration
(OAuth 2 client credentials signed with the tool key) and the platform client's timeouts.
Then :func:`plugin.services.roster.import_roster` links the members and invites the
learners; the page reports the counts. A platform failure changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, render_template
from pylti1p3.exception import LtiServiceException
from pylti1p3.service_connector import ServiceConnector
from werkzeug.exceptions import BadGateway, BadRequest, Forbidden

from lti import web_session
from lti.db import get_session
from lti.i18n import _
from lti.platform_http import platform_session
from lti.secrets import get_secret_box
from lti.tool_conf import SqlAlchemyToolConf
from plugin.models import LtiLink, LtiRegistration
from plugin.services.roster import import_roster as import_members

__all__ = ["MAX_PAGES", "NRPS_SCOPE", "bp", "fetch_members"]

log = logging.getLogger(__name__)

bp = Blueprint("roster", __name__, url_prefix="/app")

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
NRPS_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
#: A guard against a platform whose "next" links never end (1000 pages of members).
MAX_PAGES = 1000


def fetch_members(registration: LtiRegistration, url: str) -> list[dict[str, Any]]:
    """Every member of the membership container at ``url`` (all pages).

    Raises:
        BadGateway: The platform refused the token or the roster, or answered nonsense.
    """
    tool_conf = SqlAlchemyToolConf(get_session(), get_secret_box())
    reg = tool_conf.find_registration_by_params(registration.issuer, registration.client_id)
    if reg is None:
        raise BadRequest(_("The platform registration of this course is no longer active."))
    http = platform_session()
    connector = ServiceConnector(reg, requests_session=http)
    try:
        token = connector.get_access_token([NRPS_SCOPE])
    except LtiServiceException as exc:
        raise BadGateway(
            _(
                "The platform refused Tandem a roster token. Check that the tool has the "
                "'Names and Role Provisioning' service enabled."
            )
        ) from exc
    except Exception as exc:  # network errors, timeouts, bad JSON
        raise BadGateway(_("Tandem could not reach the platform for a roster token.")) from exc
    members: list[dict[str, Any]] = []
    next_url: str | None = url
    pages = 0
    while next_url:
        pages += 1
        if pages > MAX_PAGES:
            raise BadGateway(_("The platform's roster has more pages than Tandem reads."))
        try:
            resp = http.get(
                next_url,
                headers={"Authorization": f"Bearer {token}", "Accept": NRPS_MEDIA_TYPE},
            )
        except Exception as exc:  # network errors and timeouts
            raise BadGateway(_("Tandem could not reach the platform to read the roster.")) from exc
        if resp.status_code != 200:
            raise BadGateway(
                _(
                    "The platform answered the roster request with HTTP %(status)s.",
                    status=resp.status_code,
                )
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise BadGateway(_("The platform's roster is not JSON.")) from exc
        page = body.get("members") if isinstance(body, dict) else None
        if not isinstance(page, list):
            raise BadGateway(_("The platform's roster has no list of members."))
        members.extend(m for m in page if isinstance(m, dict))
        next_url = resp.links.get("next", {}).get("url")
    log.info("roster: %d members in %d page(s)", len(members), pages)
    return members


@bp.post("/programs/<int(max=2147483647):program_id>/roster-import")
def import_roster(program_id: int) -> str:
    """Import the roster of the course the coordinator launched from."""
    ws = web_session.require()
    web_session.check_csrf(ws)
    if not ws.is_coordinator:
        raise Forbidden(_("Only coordinators import course rosters."))
    session = get_session()
    link = session.get(LtiLink, ws.link_id) if ws.link_id else None
    if link is None or link.org_id != ws.org_id or not link.memberships_url:
        raise BadRequest(
            _(
                "This launch carries no course roster (the platform did not offer Names and "
                "Role Provisioning). Open Tandem from the course with the service enabled."
            )
        )
    registration = session.get(LtiRegistration, link.registration_id)
    if registration is None or not registration.active:
        raise BadRequest(_("The platform registration of this course is no longer active."))
    members = fetch_members(registration, link.memberships_url)
    result = import_members(
        session,
        ws.actor(),
        program_id=program_id,
        registration_id=registration.id,
        members=members,
        source=f"nrps:{link.id}",
    )
    return render_template(
        "lti/roster_result.html",
        result=result,
        program_id=program_id,
        course=link.context_title or link.context_id or "",
    )
