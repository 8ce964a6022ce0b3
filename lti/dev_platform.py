"""The development LTI platform at ``/dev/platform`` (``TANDEM_DEV_PLATFORM=1``).

A tiny LMS inside Tandem, so a fresh clone can be tried without Moodle: a course page for
a program of the demo organization (the demo program unless another is chosen) where a
visitor launches Tandem as a demo junior, senior, coordinator or HR admin — or as anyone
of the organization, by email address and role — through the **real** LTI 1.3 flow:
OIDC login initiation, an authorization request that is checked like Moodle's
``auth.php``, and an RS256-signed id_token the tool verifies against this platform's JWKS
over HTTP. It also plays the platform side of LTI Advantage:
an OAuth 2 token endpoint (``private_key_jwt`` client assertions checked against Tandem's
published keys), AGS line items, scores and results, an NRPS roster, and the return end
of deep linking. Off by default; :func:`lti.config.load_config` refuses it in production.

On first use the platform registers itself in the organization ``DEV_PLATFORM_ORG``
(default ``demo``, the one ``tandem demo seed`` creates) as issuer
``{BASE_URL}/dev/platform``, client id ``tandem-dev-platform``, deployment ``1``
(approved). All its state is in the database (:mod:`lti.dev_platform_store`), so any host
serves it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
)
from flask_babel import force_locale
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug import Response as WerkzeugResponse
from werkzeug.exceptions import BadRequest, Conflict, NotFound, UnsupportedMediaType

from lti.activities import ACTIVITIES, by_key
from lti.db import get_engine, get_session
from lti.dev_platform_store import (
    DevStore,
    Persona,
    demo_program,
    employee_ids,
    find_personas,
    platform_key,
)
from lti.secrets import get_secret_box
from plugin.errors import ConflictError
from plugin.models import (
    Enrollment,
    EnrollmentStatus,
    LtiDeploymentStatus,
    LtiRegistration,
    Organization,
    Person,
    Program,
    ProgramCoordinator,
)
from plugin.services import lti_registrations as regs
from plugin.services import organizations

__all__ = ["CLIENT_ID", "DEPLOYMENT_ID", "Urls", "bp", "build_id_token_claims"]

bp = Blueprint("dev_platform", __name__, url_prefix="/dev/platform")

CLIENT_ID = "tandem-dev-platform"
DEPLOYMENT_ID = "1"
ACTOR = "system:dev-platform"
PLATFORM_NAME = "Tandem development platform"

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
ROLE_LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ROLE_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
#: An institution administrator: Tandem's HR admin of the organization.
ROLE_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS_SCOPES = [SCOPE_LINEITEM, SCOPE_LINEITEM_READ, SCOPE_RESULT_READ, SCOPE_SCORE]
SUPPORTED_SCOPES = (*AGS_SCOPES, SCOPE_NRPS)

MEDIA_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MEDIA_LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEDIA_RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
MEDIA_SCORE = "application/vnd.ims.lis.v1.score+json"
MEDIA_MEMBERSHIPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: Launch languages offered on the course page (LMSs send either form).
LOCALES = {"en": "English", "de": "Deutsch", "de-DE": "Deutsch (Deutschland)"}
#: What each persona can launch, the first one being "Launch as <persona>".
PERSONA_ACTIVITIES = {
    "junior": ("my_tandem", "sessions", "self_assessment", "feedback", "program"),
    "senior": ("my_tandem", "sessions", "self_assessment", "feedback", "program"),
    "coordinator": ("dashboard", "program"),
    "admin": ("dashboard", "program"),
}
PERSONA_LABELS = {
    "junior": "Demo junior",
    "senior": "Demo senior",
    "coordinator": "Coordinator",
    "admin": "HR admin",
}
#: The LTI roles of each persona's launches.
PERSONA_ROLES = {
    "junior": (ROLE_LEARNER,),
    "senior": (ROLE_LEARNER,),
    "coordinator": (ROLE_INSTRUCTOR,),
    "admin": (ROLE_ADMIN,),
}
#: Roles offered for a launch as someone chosen by email ("person"), with their LTI roles.
PERSON_ROLES = {
    "learner": ("Learner (participant)", (ROLE_LEARNER,)),
    "instructor": ("Instructor (coordinator)", (ROLE_INSTRUCTOR,)),
    "administrator": ("Administrator (HR admin)", (ROLE_ADMIN,)),
}
#: What a launch as someone chosen by email opens, by role.
PERSON_ACTIVITY = {"learner": "my_tandem", "instructor": "dashboard", "administrator": "dashboard"}
#: The department the HR admin persona is picked from (the demo seed's HR).
HR_DEPARTMENT = "Human Resources"
ACTIVITY_LABELS = {
    "program": "Program overview",
    "my_tandem": "My tandem",
    "sessions": "Session log",
    "self_assessment": "Self-assessment",
    "feedback": "Feedback",
    "dashboard": "Coordinator dashboard",
}
ACTIVITY_PROGRESS = frozenset({"Initialized", "Started", "InProgress", "Submitted", "Completed"})
GRADING_PROGRESS = frozenset({"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"})
#: Score a line item the platform creates itself gets (Moodle's default grade).
DEFAULT_SCORE_MAXIMUM = 100
ID_TOKEN_SECONDS = 60
ASSERTION_LEEWAY = 5
MAX_PAGE = 1000
MAX_TEXT = 255


# --------------------------------------------------------------------------- URLs, course


@dataclass(frozen=True, slots=True)
class Urls:
    """Every URL of the platform and of the tool, from ``BASE_URL``.

    Attributes:
        base: ``BASE_URL`` without a trailing slash.
    """

    base: str

    @property
    def issuer(self) -> str:
        """The platform's issuer (and the root of its endpoints)."""
        return f"{self.base}/dev/platform"

    @property
    def tool_login(self) -> str:
        """The tool's OIDC login initiation URL."""
        return f"{self.base}/lti/login"

    @property
    def tool_launch(self) -> str:
        """The tool's one redirection URI (and target link URI)."""
        return f"{self.base}/lti/launch"

    @property
    def auth(self) -> str:
        """The platform's OIDC authorization endpoint."""
        return f"{self.issuer}/auth"

    @property
    def token(self) -> str:
        """The platform's OAuth 2 token endpoint."""
        return f"{self.issuer}/token"

    @property
    def jwks(self) -> str:
        """The platform's public key set."""
        return f"{self.issuer}/jwks"

    @property
    def lineitems(self) -> str:
        """The course's AGS line item container."""
        return f"{self.issuer}/lineitems"

    @property
    def memberships(self) -> str:
        """The course's NRPS membership container."""
        return f"{self.issuer}/memberships"

    @property
    def deep_link_return(self) -> str:
        """Where the tool returns deep-linking responses."""
        return f"{self.issuer}/deep-link-return"

    def lineitem(self, lineitem_id: str) -> str:
        """The URL of one line item."""
        return f"{self.issuer}/lineitems/{lineitem_id}"


def _render(template: str, **context: Any) -> str:
    """A page of the platform, in English whatever the browser's language.

    It stands in for an LMS, for developers; only Tandem's own pages follow the locale
    of the launch.
    """
    with force_locale("en"):
        return render_template(template, lang="en", **context)


def _urls() -> Urls:
    return Urls(str(current_app.config["BASE_URL"]).rstrip("/"))


class NotSeeded(Exception):
    """The platform's organization does not exist yet (``tandem demo seed``)."""

    def __init__(self, slug: str) -> None:
        """Remember which organization is missing."""
        super().__init__(slug)
        self.slug = slug


@bp.errorhandler(NotSeeded)
def _not_seeded(exc: NotSeeded) -> tuple[str, int]:
    return _render("dev/not_seeded.html", slug=exc.slug), 404


@dataclass(frozen=True, slots=True)
class Course:
    """The platform's one course: the demo organization, its registration, its program."""

    org: Organization
    registration: LtiRegistration
    program: Program | None


def _registration(org: Organization, urls: Urls) -> LtiRegistration:
    """The platform's registration in Tandem, added (or repaired) on first use."""
    session = get_session()
    reg = _find_registration(session, urls)
    if reg is None or not _has_deployment(session, reg):
        _register(org.id, urls)
        reg = _find_registration(session, urls)
        if reg is None:  # pragma: no cover - removed again meanwhile
            raise Conflict("The development platform could not register itself; reload.")
    if reg.org_id != org.id:
        raise Conflict(
            f"The development platform is registered in another organization than "
            f"{org.slug!r} (DEV_PLATFORM_ORG). Remove that registration or set "
            "TANDEM_DEV_PLATFORM_ORG to its organization."
        )
    return reg


def _find_registration(session: Session, urls: Urls) -> LtiRegistration | None:
    return regs.find_registration(
        session, issuer=urls.issuer, client_id=CLIENT_ID, include_inactive=True
    )


def _has_deployment(session: Session, reg: LtiRegistration) -> bool:
    deployments = regs.list_deployments(session, org_id=reg.org_id, registration_id=reg.id)
    return any(d.deployment_id == DEPLOYMENT_ID for d in deployments)


def _register(org_id: int, urls: Urls) -> None:
    """Register the platform with its approved deployment, committed at once.

    A setup step, not part of the request: it must stay even when the request that
    triggered it is refused (a 4xx rolls the request's own session back). Also adds the
    deployment to a registration that lost it.
    """
    with Session(get_engine(), expire_on_commit=False) as own:
        reg = _find_registration(own, urls)
        if reg is None:
            try:
                regs.add_platform(
                    own,
                    org_id=org_id,
                    issuer=urls.issuer,
                    client_id=CLIENT_ID,
                    auth_login_url=urls.auth,
                    auth_token_url=urls.token,
                    jwks_url=urls.jwks,
                    actor=ACTOR,
                    deployment_ids=[DEPLOYMENT_ID],
                    name=PLATFORM_NAME,
                    allow_http=True,
                )
            except ConflictError:  # registered by a concurrent first request
                return
        elif reg.org_id == org_id and not _has_deployment(own, reg):
            deployment = regs.deployment_for_launch(
                own, registration=reg, deployment_id=DEPLOYMENT_ID
            )
            if deployment.status is LtiDeploymentStatus.PENDING:
                regs.approve_deployment(
                    own, org_id=org_id, deployment_pk=deployment.id, actor=ACTOR
                )
        own.commit()


def _course(program_arg: str | None = None) -> Course:
    """The course: the demo program, or the organization's program ``program_arg`` names."""
    session = get_session()
    slug = str(current_app.config.get("DEV_PLATFORM_ORG", "demo"))
    org = organizations.find_organization(session, slug)
    if org is None:
        raise NotSeeded(slug)
    reg = _registration(org, _urls())
    if program_arg:
        chosen = session.get(Program, int(program_arg)) if _is_id(program_arg) else None
        if chosen is None or chosen.org_id != org.id:
            raise BadRequest(f"Organization {org.slug!r} has no program {program_arg[:20]!r}.")
        return Course(org=org, registration=reg, program=chosen)
    return Course(org=org, registration=reg, program=demo_program(session, org.id))


def _is_id(value: str) -> bool:
    return value.isdigit() and len(value) < 10


def _programs(org_id: int) -> list[Program]:
    """The organization's programs, each a course of this platform."""
    return list(
        get_session().scalars(select(Program).where(Program.org_id == org_id).order_by(Program.id))
    )


def _hr_admin(org_id: int, program: Program) -> Person | None:
    """The HR admin persona: the most senior active HR person who does not coordinate it.

    Falls back to the program's first coordinator (a small company without HR).
    """
    session = get_session()
    coordinating = select(ProgramCoordinator.person_id).where(
        ProgramCoordinator.program_id == program.id
    )
    person = session.scalar(
        select(Person)
        .where(
            Person.org_id == org_id,
            Person.active.is_(True),
            Person.department == HR_DEPARTMENT,
            Person.id.not_in(coordinating),
        )
        .order_by(Person.job_level.desc().nulls_last(), Person.id)
    )
    if person is None:
        person = session.scalar(
            select(Person)
            .join(ProgramCoordinator, ProgramCoordinator.person_id == Person.id)
            .where(ProgramCoordinator.program_id == program.id)
            .order_by(ProgramCoordinator.id)
        )
    return person


def _personas(course: Course) -> dict[str, Persona]:
    """The course program's demo junior, senior and coordinator, and the HR admin."""
    if course.program is None:
        return {}
    personas = dict(find_personas(get_session(), course.program))
    personas["admin"] = Persona(
        "admin",
        _hr_admin(course.org.id, course.program),
        instructor=False,
        note="an HR admin of the organization (institution Administrator)",
    )
    return personas


def _locale(value: str | None) -> str:
    return value if value in LOCALES else "en"


def _is_demo_course(program: Program) -> bool:
    default = demo_program(get_session(), program.org_id)
    return default is not None and default.id == program.id


def _course_query(locale: str, program: Program) -> dict[str, str]:
    """The course page's query: the launch language and (unless the demo's) the program."""
    query = {"locale": locale}
    if not _is_demo_course(program):
        query["program"] = str(program.id)
    return query


def _memberships_url(urls: Urls, program: Program) -> str:
    """The NRPS roster of the course of ``program`` (the demo program's has no query)."""
    if _is_demo_course(program):
        return urls.memberships
    return f"{urls.memberships}?{urlencode({'program': program.id})}"


def _full_name(person: Person) -> str:
    return f"{person.given_name} {person.family_name}".strip()


# --------------------------------------------------------------------------- course page


@bp.get("")
@bp.get("/")
def course_page() -> str:
    """The course page: personas, their launch buttons, the iframe, links and gradebook."""
    course = _course(request.args.get("program"))
    session = get_session()
    store = DevStore(session)
    urls = _urls()
    locale = _locale(request.args.get("locale"))
    personas = _personas(course)
    lineitems = store.lineitems()
    gradebook = [(item, store.scores(item["id"])) for item in lineitems]
    names = _names_by_user_id([score["userId"] for _item, scores in gradebook for score in scores])
    base_host = urlsplit(urls.base).netloc
    return _render(
        "dev/platform.html",
        course=course,
        personas=personas,
        persona_labels=PERSONA_LABELS,
        persona_activities=PERSONA_ACTIVITIES,
        persona_keys=tuple(PERSONA_ACTIVITIES),
        person_roles={key: label for key, (label, _roles) in PERSON_ROLES.items()},
        activity_labels=ACTIVITY_LABELS,
        locales=LOCALES,
        locale=locale,
        programs=_programs(course.org.id),
        default_program=demo_program(session, course.org.id),
        links=store.links(),
        gradebook=gradebook,
        names=names,
        urls=urls,
        other_host=request.host != base_host,
        registration_active=course.registration.active,
    )


def _names_by_user_id(user_ids: list[str]) -> dict[str, str]:
    ids = {int(u[4:]) for u in user_ids if u.startswith("dev-") and u[4:].isdigit()}
    if not ids:
        return {}
    people = get_session().scalars(select(Person).where(Person.id.in_(ids)))
    return {f"dev-{p.id}": _full_name(p) for p in people}


# --------------------------------------------------------------------------- launch


@bp.get("/launch")
def launch() -> WerkzeugResponse:
    """Start a launch: keep a login hint and send the browser to the tool's OIDC login.

    Query: ``persona`` (junior, senior, coordinator, admin — or ``person`` with ``email``
    and ``role``: learner, instructor, administrator); ``activity`` (a key of
    :mod:`lti.activities`; a person launch defaults to their role's page) or ``link`` (a
    link added by deep linking) or ``message=deep_linking`` (instructors and
    administrators); optional ``program`` (the course: a program id, else the demo
    program) and ``locale`` (en, de, de-DE).
    """
    course = _course(request.args.get("program"))
    session = get_session()
    store = DevStore(session)
    urls = _urls()
    args = request.args
    persona, person, program, roles = _persona(course, args)
    if persona.key == "person" and not args.get("activity") and not args.get("link"):
        args = args.copy()
        args["activity"] = PERSON_ACTIVITY[args["role"]]
    hint: dict[str, Any] = {
        "persona": persona.key,
        "person_id": person.id,
        "instructor": persona.instructor,
        "roles": list(roles),
        "program_id": program.id,
        "locale": _locale(args.get("locale")),
        "message_hint": secrets.token_urlsafe(12),
        "link_id": None,
        "activity": None,
        "title": None,
        "custom": {"program": str(program.id)},
        "target_link_uri": urls.tool_launch,
    }
    message = args.get("message", "resource_link")
    if message == "deep_linking":
        if ROLE_LEARNER in roles:
            raise BadRequest(
                "Only the coordinator (an Instructor) or an administrator can add activities."
            )
        hint["message_type"] = "LtiDeepLinkingRequest"
    elif message == "resource_link":
        hint["message_type"] = "LtiResourceLinkRequest"
        hint.update(_launch_target(store, program, args, urls))
    else:
        raise BadRequest("message must be resource_link or deep_linking.")
    login_hint = store.save_hint(hint)
    params = {
        "iss": urls.issuer,
        "login_hint": login_hint,
        "lti_message_hint": hint["message_hint"],
        "target_link_uri": hint["target_link_uri"],
        "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT_ID,
    }
    response = redirect(f"{urls.tool_login}?{urlencode(params)}", code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


def _persona(course: Course, args: Any) -> tuple[Persona, Person, Program, tuple[str, ...]]:
    """Who launches: the persona, its person, the course's program and LTI roles (or a 400).

    ``persona=person`` launches as the active person of the organization with the
    ``email`` given, in the ``role`` given.
    """
    key = args.get("persona", "")
    if key not in (*PERSONA_ACTIVITIES, "person"):
        raise BadRequest("persona must be junior, senior, coordinator, admin or person.")
    program = course.program
    if program is None:
        raise BadRequest(
            f"Organization {course.org.slug!r} has no program yet: run `tandem demo seed`."
        )
    if key == "person":
        return _chosen_person(course, program, args)
    persona = _personas(course)[key]
    if persona.person is None:
        raise BadRequest(
            f"The program {program.name!r} has no demo {key} to launch as "
            "(nobody enrolled in that role yet)."
        )
    return persona, persona.person, program, PERSONA_ROLES[key]


def _chosen_person(
    course: Course, program: Program, args: Any
) -> tuple[Persona, Person, Program, tuple[str, ...]]:
    role = args.get("role", "")
    if role not in PERSON_ROLES:
        raise BadRequest("role must be learner, instructor or administrator.")
    email = (args.get("email") or "").strip().lower()
    person = None
    if email and len(email) <= 254:
        person = get_session().scalar(
            select(Person)
            .where(
                Person.org_id == course.org.id,
                Person.active.is_(True),
                func.lower(Person.email) == email,
            )
            .order_by(Person.id)
        )
    if person is None:
        raise BadRequest(
            f"Nobody active in organization {course.org.slug!r} has this email address."
        )
    roles = PERSON_ROLES[role][1]
    persona = Persona(
        "person", person, instructor=ROLE_INSTRUCTOR in roles, note=f"chosen by email as {role}"
    )
    return persona, person, program, roles


def _launch_target(store: DevStore, program: Program, args: Any, urls: Urls) -> dict[str, Any]:
    """Resource link, activity and custom parameters of a resource-link launch."""
    link_id = args.get("link")
    if link_id:
        link = store.get_link(link_id)
        if link is None:
            raise NotFound("No such link on the course page (it may have been removed).")
        custom = {str(k): str(v) for k, v in (link.get("custom") or {}).items()}
        return {
            "link_id": link["id"],
            "resource_link_id": f"dev-link-{link['id']}",
            "activity": custom.get("activity"),
            "title": link.get("title") or "Tandem",
            "custom": custom,
            "target_link_uri": link.get("url") or urls.tool_launch,
        }
    activity = by_key(args.get("activity"))
    if activity is None:
        known = ", ".join(a.key for a in ACTIVITIES)
        raise BadRequest(f"activity must be one of {known}.")
    return {
        "resource_link_id": f"dev-{program.id}-{activity.key}",
        "activity": activity.key,
        "title": activity.title,
        "custom": {"activity": activity.key, "program": str(program.id)},
    }


# --------------------------------------------------------------------------- OIDC auth


def _expect(name: str, expected: str) -> str:
    value = request.values.get(name, "")
    if value != expected:
        shown = repr(value[:80]) if value else "missing"
        raise BadRequest(f"Invalid authentication request: {name} must be {expected!r} ({shown}).")
    return value


def _required(name: str) -> str:
    value = request.values.get(name, "")
    if not value:
        raise BadRequest(f"Invalid authentication request: {name} is required.")
    if len(value) > 1000:
        raise BadRequest(f"Invalid authentication request: {name} is too long.")
    return value


@bp.route("/auth", methods=["GET", "POST"])
def auth() -> Response:
    """The OIDC authorization endpoint: check the request, answer with a signed id_token.

    Like Moodle's ``auth.php``, the ``redirect_uri`` must equal the tool's registered
    redirection URI exactly. The answer is a page that POSTs ``id_token`` and ``state``
    to it (by script, or with its visible button when scripts are off).
    """
    urls = _urls()
    _expect("scope", "openid")
    _expect("response_type", "id_token")
    _expect("response_mode", "form_post")
    _expect("prompt", "none")
    _expect("client_id", CLIENT_ID)
    redirect_uri = request.values.get("redirect_uri", "")
    if redirect_uri != urls.tool_launch:
        raise BadRequest(
            "Invalid authentication request: redirect_uri is not a registered redirection "
            f"URI; it must be exactly {urls.tool_launch}."
        )
    nonce = _required("nonce")
    state = _required("state")
    session = get_session()
    store = DevStore(session)
    hint = store.load_hint(request.values.get("login_hint", ""))
    if hint is None:
        raise BadRequest(
            "Invalid authentication request: unknown or expired login_hint. Start the launch "
            "again from the course page."
        )
    if request.values.get("lti_message_hint", "") != hint["message_hint"]:
        raise BadRequest("Invalid authentication request: lti_message_hint does not match.")
    person = session.get(Person, int(hint["person_id"]))
    program = session.get(Program, int(hint["program_id"]))
    if person is None or program is None:
        raise BadRequest("The demo person or program of this launch no longer exists.")
    claims = build_id_token_claims(
        urls=urls,
        store=store,
        hint=hint,
        person=person,
        program=program,
        nonce=nonce,
        sourcedid=employee_ids(session, [person.id]).get(person.id),
        now=int(time.time()),
    )
    key = platform_key(store, get_secret_box())
    id_token = jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})
    html = _render("dev/auth_post.html", action=redirect_uri, id_token=id_token, state=state)
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def build_id_token_claims(
    *,
    urls: Urls,
    store: DevStore,
    hint: dict[str, Any],
    person: Person,
    program: Program,
    nonce: str,
    sourcedid: str | None,
    now: int,
) -> dict[str, Any]:
    """The claims of the id_token of one launch (creates a graded link's line item).

    Args:
        urls: The platform's and tool's URLs.
        store: The platform's state (line items).
        hint: The login hint saved by :func:`launch`.
        person: Who launches.
        program: The course's program.
        nonce: The tool's nonce, echoed.
        sourcedid: The person's HRIS employee id (``lis.person_sourcedid``), if any.
        now: The time of issue (seconds since the epoch).
    """
    deep_linking = hint["message_type"] == "LtiDeepLinkingRequest"
    claims: dict[str, Any] = {
        "iss": urls.issuer,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": f"dev-{person.id}",
        "exp": now + ID_TOKEN_SECONDS,
        "iat": now,
        "nonce": nonce,
        "name": _full_name(person),
        "given_name": person.given_name,
        "family_name": person.family_name,
        LTI + "deployment_id": DEPLOYMENT_ID,
        LTI + "message_type": hint["message_type"],
        LTI + "version": "1.3.0",
        LTI + "target_link_uri": hint["target_link_uri"],
        LTI + "roles": list(
            hint.get("roles") or [ROLE_INSTRUCTOR if hint["instructor"] else ROLE_LEARNER]
        ),
        LTI + "context": {
            "id": f"dev-course-{program.id}",
            "label": f"RM-{program.id}",
            "title": program.name,
            "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseSection"],
        },
        LTI + "tool_platform": {
            "guid": CLIENT_ID,
            "name": PLATFORM_NAME,
            "product_family_code": "tandem-dev",
            "version": "1.0",
        },
        LTI + "launch_presentation": {
            "document_target": "iframe",
            "locale": hint["locale"],
            "return_url": f"{urls.issuer}?{urlencode(_course_query(hint['locale'], program))}",
        },
        LTI + "custom": dict(hint["custom"]),
        NRPS_CLAIM: {
            "context_memberships_url": _memberships_url(urls, program),
            "service_versions": ["2.0"],
        },
    }
    if person.email:
        claims["email"] = person.email
    if sourcedid:
        claims[LTI + "lis"] = {"person_sourcedid": sourcedid}
    ags: dict[str, Any] = {"scope": list(AGS_SCOPES), "lineitems": urls.lineitems}
    if deep_linking:
        claims[DL + "deep_linking_settings"] = {
            "deep_link_return_url": urls.deep_link_return,
            "accept_types": ["ltiResourceLink"],
            "accept_presentation_document_targets": ["iframe", "window"],
            "accept_multiple": True,
            "title": "Add a Tandem activity",
            "data": store.save_deep_link_request(
                {"person_id": person.id, "program_id": program.id}
            ),
        }
    else:
        rlid = hint["resource_link_id"]
        claims[LTI + "resource_link"] = {"id": rlid, "title": hint["title"]}
        lineitem = store.lineitem_for_link(rlid)
        activity = by_key(hint.get("activity"))
        if lineitem is None and hint.get("link_id") is None and activity and activity.graded:
            lineitem = store.create_lineitem(
                {
                    "label": activity.title,
                    "scoreMaximum": DEFAULT_SCORE_MAXIMUM,
                    "resourceLinkId": rlid,
                    "resourceId": activity.key,
                }
            )
        if lineitem is not None:
            ags["lineitem"] = urls.lineitem(lineitem["id"])
    claims[AGS_CLAIM] = ags
    return claims


@bp.get("/jwks")
def jwks() -> Response:
    """The platform's public key set."""
    key = platform_key(DevStore(get_session()), get_secret_box())
    response = jsonify({"keys": [key.public_jwk]})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --------------------------------------------------------------------------- services


class ServiceError(Exception):
    """An error of a service endpoint (token, AGS, NRPS), answered as JSON."""

    def __init__(self, status: int, error: str, description: str) -> None:
        """Keep the HTTP status, the OAuth/LTI error code and a readable description."""
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Response:
    response = jsonify({"error": exc.error, "error_description": exc.description})
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _json(body: Any, media_type: str, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.mimetype = media_type
    return response


def _verify_tool_jwt(token: str, *, audience: list[str]) -> dict[str, Any]:
    """Check a JWT the tool signed (RS256, a key it publishes) and return its claims.

    Raises:
        jwt.InvalidTokenError: Malformed, unknown key, bad signature, expired, wrong audience.
    """
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "RS256":
        raise jwt.InvalidAlgorithmError("the JWT must be signed with RS256")
    keys = regs.published_jwks(get_session())["keys"]
    jwk = next((k for k in keys if k.get("kid") == header.get("kid")), None)
    if jwk is None:
        raise jwt.InvalidKeyError("the JWT's kid is not one of the tool's published keys")
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=audience,
        leeway=ASSERTION_LEEWAY,
        options={"require": ["iss", "aud", "exp", "iat"]},
    )
    return claims


@bp.post("/token")
def token() -> Response:
    """OAuth 2 client credentials with a ``private_key_jwt`` client assertion.

    Grants the intersection of the requested scopes with what the platform offers (like
    Moodle's ``token.php``), as an opaque bearer token valid for an hour.
    """
    urls = _urls()
    form = request.form
    if form.get("grant_type") != "client_credentials":
        raise ServiceError(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != JWT_BEARER:
        raise ServiceError(400, "invalid_request", f"client_assertion_type must be {JWT_BEARER}")
    assertion = form.get("client_assertion", "")
    if not assertion:
        raise ServiceError(400, "invalid_request", "client_assertion is required")
    try:
        claims = _verify_tool_jwt(assertion, audience=[urls.token, urls.issuer])
    except jwt.InvalidTokenError as exc:
        raise ServiceError(401, "invalid_client", f"client assertion refused: {exc}") from None
    if claims.get("iss") != CLIENT_ID or claims.get("sub") != CLIENT_ID:
        raise ServiceError(401, "invalid_client", f"iss and sub must be the client id {CLIENT_ID}")
    jti = claims.get("jti")
    store = DevStore(get_session())
    if not isinstance(jti, str) or not jti or not store.use_jti(jti):
        raise ServiceError(401, "invalid_client", "the client assertion needs a jti used once")
    requested = form.get("scope", "").split()
    granted = [s for s in SUPPORTED_SCOPES if s in requested]
    if not granted:
        raise ServiceError(400, "invalid_scope", "none of the requested scopes is offered")
    access_token = store.issue_token(granted)
    response = jsonify(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": " ".join(granted),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _require_scope(*accepted: str) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ServiceError(401, "invalid_token", "an Authorization: Bearer token is required")
    scopes = DevStore(get_session()).token_scopes(value.strip())
    if scopes is None:
        raise ServiceError(401, "invalid_token", "unknown or expired access token")
    if not set(accepted) & set(scopes):
        raise ServiceError(403, "insufficient_scope", "the token lacks " + " or ".join(accepted))


def _body(*media_types: str) -> dict[str, Any]:
    if request.mimetype not in (*media_types, "application/json"):
        raise UnsupportedMediaType(f"Content-Type must be {media_types[0]}.")
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ServiceError(400, "invalid_request", "the body must be a JSON object")
    return body


def _page(items: list[Any], url: str) -> tuple[list[Any], str | None]:
    """One page of ``items`` (``limit``, ``offset``) and the ``Link`` header of the next."""
    limit = _int_arg("limit", None, low=1, high=MAX_PAGE)
    offset = _int_arg("offset", 0, low=0, high=None) or 0
    if limit is None:
        return items[offset:], None
    end = offset + limit
    if end >= len(items):
        return items[offset:end], None
    params = {**request.args.to_dict(), "limit": str(limit), "offset": str(end)}
    return items[offset:end], f'<{url}?{urlencode(params)}>; rel="next"'


def _int_arg(name: str, default: int | None, *, low: int, high: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        bounds = f"from {low}" + (f" to {high}" if high is not None else "")
        raise ServiceError(400, "invalid_request", f"{name} must be a whole number {bounds}")
    return int(raw)


def _with_link(response: Response, link: str | None) -> Response:
    if link:
        response.headers["Link"] = link
    return response


def _lineitem_json(urls: Urls, item: dict[str, Any]) -> dict[str, Any]:
    out = {"id": urls.lineitem(item["id"])}
    for field in ("label", "scoreMaximum", "resourceLinkId", "resourceId", "tag"):
        if item.get(field) is not None:
            out[field] = item[field]
    for field in ("startDateTime", "endDateTime"):
        if item.get(field):
            out[field] = item[field]
    return out


def _text(body: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        if required:
            raise ServiceError(400, "invalid_request", f"{field} is required")
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ServiceError(400, "invalid_request", f"{field} must be text of 1–{MAX_TEXT} chars")
    return value


def _number(body: dict[str, Any], field: str, *, positive: bool) -> float | int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ServiceError(400, "invalid_request", f"{field} must be a number")
    if value < 0 or (positive and value == 0):
        rule = "greater than 0" if positive else "0 or more"
        raise ServiceError(400, "invalid_request", f"{field} must be {rule}")
    return value


def _timestamp(body: dict[str, Any], field: str, *, required: bool) -> datetime | None:
    raw = _text(body, field, required=required)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ServiceError(
            400, "invalid_request", f"{field} must be an ISO 8601 date-time with a time zone"
        )
    return value


def _lineitem_fields(body: dict[str, Any]) -> dict[str, Any]:
    score_maximum = _number(body, "scoreMaximum", positive=True)
    if score_maximum is None:
        raise ServiceError(400, "invalid_request", "scoreMaximum is required")
    fields: dict[str, Any] = {
        "label": _text(body, "label", required=True),
        "scoreMaximum": score_maximum,
    }
    for field in ("resourceLinkId", "resourceId", "tag"):
        fields[field] = _text(body, field)
    for field in ("startDateTime", "endDateTime"):
        moment = _timestamp(body, field, required=False)
        fields[field] = moment.isoformat() if moment else None
    return fields


@bp.route("/lineitems", methods=["GET", "POST"])
def lineitems() -> Response:
    """AGS line item container: list (filters, paging) or create (POST)."""
    urls = _urls()
    store = DevStore(get_session())
    if request.method == "POST":
        _require_scope(SCOPE_LINEITEM)
        item = store.create_lineitem(_lineitem_fields(_body(MEDIA_LINEITEM)))
        response = _json(_lineitem_json(urls, item), MEDIA_LINEITEM, 201)
        response.headers["Location"] = urls.lineitem(item["id"])
        return response
    _require_scope(SCOPE_LINEITEM, SCOPE_LINEITEM_READ)
    filters = {
        "resourceLinkId": request.args.get("resource_link_id"),
        "resourceId": request.args.get("resource_id"),
        "tag": request.args.get("tag"),
    }
    items = [
        _lineitem_json(urls, item)
        for item in store.lineitems()
        if all(want is None or item.get(field) == want for field, want in filters.items())
    ]
    page, link = _page(items, urls.lineitems)
    return _with_link(_json(page, MEDIA_LINEITEMS), link)


def _lineitem_or_404(store: DevStore, lineitem_id: str) -> dict[str, Any]:
    item = store.get_lineitem(lineitem_id)
    if item is None:
        raise ServiceError(404, "not_found", f"line item {lineitem_id[:40]!r} not found")
    return item


@bp.get("/lineitems/<lineitem_id>")
def lineitem(lineitem_id: str) -> Response:
    """One AGS line item."""
    _require_scope(SCOPE_LINEITEM, SCOPE_LINEITEM_READ)
    item = _lineitem_or_404(DevStore(get_session()), lineitem_id)
    return _json(_lineitem_json(_urls(), item), MEDIA_LINEITEM)


@bp.post("/lineitems/<lineitem_id>/scores")
def scores(lineitem_id: str) -> Response:
    """Post a score; a score not newer than the user's last one is ignored (AGS §3.4)."""
    _require_scope(SCOPE_SCORE)
    store = DevStore(get_session())
    item = _lineitem_or_404(store, lineitem_id)
    body = _body(MEDIA_SCORE)
    user_id = _text(body, "userId", required=True)
    activity = body.get("activityProgress")
    if activity not in ACTIVITY_PROGRESS:
        allowed = ", ".join(sorted(ACTIVITY_PROGRESS))
        raise ServiceError(400, "invalid_request", f"activityProgress must be one of {allowed}")
    grading = body.get("gradingProgress")
    if grading not in GRADING_PROGRESS:
        allowed = ", ".join(sorted(GRADING_PROGRESS))
        raise ServiceError(400, "invalid_request", f"gradingProgress must be one of {allowed}")
    moment = _timestamp(body, "timestamp", required=True)
    if moment is None:  # pragma: no cover - required above
        raise ServiceError(400, "invalid_request", "timestamp is required")
    given = _number(body, "scoreGiven", positive=False)
    maximum = _number(body, "scoreMaximum", positive=True)
    if given is not None and maximum is None:
        raise ServiceError(400, "invalid_request", "scoreMaximum is required with scoreGiven")
    score = {
        "userId": user_id,
        "scoreGiven": given,
        "scoreMaximum": maximum,
        "comment": body.get("comment") if isinstance(body.get("comment"), str) else None,
        "activityProgress": activity,
        "gradingProgress": grading,
    }
    store.record_score(item["id"], score, moment)
    return Response(status=204)


@bp.get("/lineitems/<lineitem_id>/results")
def results(lineitem_id: str) -> Response:
    """The results of a line item (the last score of each user), optionally of one user."""
    _require_scope(SCOPE_RESULT_READ)
    urls = _urls()
    store = DevStore(get_session())
    item = _lineitem_or_404(store, lineitem_id)
    url = urls.lineitem(item["id"])
    wanted = request.args.get("user_id")
    out = []
    for score in store.scores(item["id"]):
        if wanted is not None and score["userId"] != wanted:
            continue
        result: dict[str, Any] = {
            "id": f"{url}/results/{score['userId']}",
            "scoreOf": url,
            "userId": score["userId"],
            "timestamp": score["timestamp"],
        }
        if score.get("scoreGiven") is not None:
            result["resultScore"] = score["scoreGiven"]
            result["resultMaximum"] = score["scoreMaximum"]
        if score.get("comment"):
            result["comment"] = score["comment"]
        out.append(result)
    page, link = _page(out, f"{url}/results")
    return _with_link(_json(page, MEDIA_RESULTS), link)


@bp.get("/memberships")
def memberships() -> Response:
    """NRPS 2.0: the course's members (enrolled people and coordinators), paged."""
    _require_scope(SCOPE_NRPS)
    try:
        course = _course(request.args.get("program"))
    except BadRequest as exc:
        raise ServiceError(404, "not_found", str(exc.description)) from None
    urls = _urls()
    program = course.program
    members = _members(program) if program is not None else []
    role = request.args.get("role")
    if role:
        members = [
            m for m in members if any(r == role or r.endswith("#" + role) for r in m["roles"])
        ]
    page, link = _page(members, urls.memberships)
    body = {
        "id": urls.memberships,
        "context": {
            "id": f"dev-course-{program.id}" if program else "dev-course",
            "label": f"RM-{program.id}" if program else "RM",
            "title": program.name if program else "Reverse mentoring",
        },
        "members": page,
    }
    return _with_link(_json(body, MEDIA_MEMBERSHIPS), link)


def _has_role(roles: list[str], wanted: str) -> bool:
    return any(r == wanted or r.endswith("#" + wanted) for r in roles)


def _members(program: Program) -> list[dict[str, Any]]:
    session = get_session()
    learners = session.scalars(
        select(Person)
        .join(Enrollment, Enrollment.person_id == Person.id)
        .where(Enrollment.program_id == program.id, Enrollment.status == EnrollmentStatus.ACTIVE)
    ).all()
    instructors = session.scalars(
        select(Person)
        .join(ProgramCoordinator, ProgramCoordinator.person_id == Person.id)
        .where(ProgramCoordinator.program_id == program.id)
    ).all()
    roles: dict[int, list[str]] = {}
    people: dict[int, Person] = {}
    for role, group in ((ROLE_INSTRUCTOR, instructors), (ROLE_LEARNER, learners)):
        for person in group:
            people[person.id] = person
            if role not in roles.setdefault(person.id, []):
                roles[person.id].append(role)
    sourcedids = employee_ids(session, list(people))
    out = []
    for person_id in sorted(people):
        person = people[person_id]
        member: dict[str, Any] = {
            "status": "Active",
            "user_id": f"dev-{person_id}",
            "roles": roles[person_id],
            "name": _full_name(person),
            "given_name": person.given_name,
            "family_name": person.family_name,
        }
        if person.email:
            member["email"] = person.email
        if person_id in sourcedids:
            member["lis_person_sourcedid"] = sourcedids[person_id]
        out.append(member)
    return out


# --------------------------------------------------------------------------- deep linking


@bp.post("/deep-link-return")
def deep_link_return() -> str:
    """Receive the tool's deep-linking response and add its links to the course page."""
    urls = _urls()
    token = request.form.get("JWT", "")
    if not token:
        raise BadRequest("The deep-linking response has no JWT.")
    try:
        claims = _verify_tool_jwt(token, audience=[urls.issuer, regs.normalise_issuer(urls.issuer)])
    except jwt.InvalidTokenError as exc:
        raise BadRequest(f"The deep-linking response was refused: {exc}") from None
    problems = {
        "iss": (claims.get("iss"), CLIENT_ID),
        "message_type": (claims.get(LTI + "message_type"), "LtiDeepLinkingResponse"),
        "version": (claims.get(LTI + "version"), "1.3.0"),
        "deployment_id": (claims.get(LTI + "deployment_id"), DEPLOYMENT_ID),
    }
    for name, (got, want) in problems.items():
        if got != want:
            raise BadRequest(f"The deep-linking response was refused: {name} must be {want!r}.")
    store = DevStore(get_session())
    data = claims.get(DL + "data")
    if store.take_deep_link_request(data if isinstance(data, str) else "") is None:
        raise BadRequest(
            "The deep-linking response was refused: its data does not echo a pending request "
            "of this platform (or it was already used)."
        )
    items = claims.get(DL + "content_items") or []
    if not isinstance(items, list):
        raise BadRequest("The deep-linking response was refused: content_items must be a list.")
    added, skipped = _add_links(store, items)
    return _render(
        "dev/deep_link_return.html",
        added=added,
        skipped=skipped,
        message=claims.get(DL + "msg"),
        urls=urls,
    )


def _short(value: Any) -> str | None:
    return str(value)[:MAX_TEXT] if value not in (None, "") else None


def _add_links(store: DevStore, items: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    added: list[dict[str, Any]] = []
    skipped: list[str] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "ltiResourceLink":
            kind = item.get("type") if isinstance(item, dict) else type(item).__name__
            skipped.append(str(kind)[:40])
            continue
        raw_custom = item.get("custom")
        custom: dict[Any, Any] = raw_custom if isinstance(raw_custom, dict) else {}
        line_item = item.get("lineItem") if isinstance(item.get("lineItem"), dict) else None
        link = store.add_link(
            {
                "title": str(item.get("title") or "Tandem activity")[:200],
                "text": str(item.get("text") or "")[:500],
                "url": item.get("url") if isinstance(item.get("url"), str) else None,
                "custom": {str(k): str(v) for k, v in custom.items()},
                "lineItem": line_item,
            }
        )
        if link["lineItem"]:
            spec = link["lineItem"]
            maximum = spec.get("scoreMaximum")
            valid = isinstance(maximum, int | float) and not isinstance(maximum, bool)
            store.create_lineitem(
                {
                    "label": str(spec.get("label") or link["title"])[:MAX_TEXT],
                    "scoreMaximum": maximum if valid and maximum > 0 else DEFAULT_SCORE_MAXIMUM,
                    "resourceLinkId": f"dev-link-{link['id']}",
                    "resourceId": _short(spec.get("resourceId")),
                    "tag": _short(spec.get("tag")),
                }
            )
        added.append(link)
    return added, skipped
