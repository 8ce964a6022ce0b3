"""An independent LTI 1.3 platform for end-to-end tests, built on ``lti1p3platform`` 0.1.8.

``lti1p3platform`` (OpenLearningNet, MIT) is the *platform* side of LTI 1.3: OIDC login
initiation, signed id_tokens, deep-linking claims and response validation, the OAuth 2
client-credentials token endpoint and the AGS/NRPS service base classes. This module wraps
it in a small Flask app — the way an LMS would — and adds what the package leaves to its
host: the authorization endpoint's ``redirect_uri`` check (like Moodle's), in-memory line
items, scores and results (AGS), a course roster served in two pages linked by
``Link: <…>; rel="next"`` (NRPS), and the deep-linking return endpoint that turns the
tool's items into course links.

The platform is configured the way an admin configures a real one by hand: from Tandem's
``GET /lti/config.json`` (login URL, redirection URI, keyset URL, deep-linking URL).

Nothing listens on a port. :class:`HttpRouter` answers the server-to-server calls of both
sides (Tandem fetching the platform's JWKS, asking for a token, reading the roster,
posting scores; the platform fetching Tandem's JWKS) with ``responses`` callbacks into
the apps' test clients, and :class:`Browser` plays the user's browser across both apps:
it follows redirects and submits the auto-posting forms.
"""

from __future__ import annotations

import json
import re
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import jwt
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, abort, jsonify, redirect, render_template_string, request
from flask.testing import FlaskClient
from lti1p3platform.exceptions import (
    LineItemNotFoundException,
    LtiDeepLinkingResponseException,
    LtiException,
    LtiServiceException,
    MissingRequiredClaim,
    PreflightRequestValidationException,
    UnsupportedGrantType,
)
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.response import Response as LtiResponse
from lti1p3platform.response import generate_next_link
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
    TPage,
)
from werkzeug.datastructures import MultiDict

ISSUER = "https://lms.e2e.test"
CLIENT_ID = "tandem-e2e-client"
DEPLOYMENT_ID = "e2e-deployment-1"
AUTH_URL = ISSUER + "/oidc/auth"
TOKEN_URL = ISSUER + "/oauth2/token"
JWKS_URL = ISSUER + "/oidc/jwks"
DEEP_LINK_RETURN_URL = ISSUER + "/deep-link/return"
COURSE_ID = "course-42"
COURSE_TITLE = "Reverse Mentoring 2026"
MEMBERSHIPS_URL = f"{ISSUER}/nrps/{COURSE_ID}/memberships"
#: Moodle-style AGS URLs, with a query string the tool must keep after its path additions.
LINEITEMS_URL = f"{ISSUER}/ags/{COURSE_ID}/lineitems?type_id=1"
#: The second roster page's cursor: mixed case, so a tool that lower-cases it is caught.
NEXT_CURSOR = "PaGe2-XyZ"

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
COURSE_SECTION = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseSection"
NRPS_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
LINEITEM_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
RESULTS_MEDIA_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class User:
    """A platform account."""

    user_id: str
    name: str
    email: str
    roles: tuple[str, ...]


@dataclass
class Link:
    """A course link to the tool (a resource link), with its custom parameters."""

    id: str
    title: str
    custom: dict[str, str]
    lineitem: str | None = None


USERS = {
    "u-lena": User("u-lena", "Lena Learner", "lena.learner@acme.example", (LEARNER,)),
    "u-ivo": User("u-ivo", "Ivo Instructor", "ivo.instructor@acme.example", (INSTRUCTOR,)),
}

#: The course roster, served in two pages (three members, then two).
MEMBERS: list[dict[str, t.Any]] = [
    {
        "user_id": "u-ivo",
        "roles": [INSTRUCTOR],
        "name": "Ivo Instructor",
        "given_name": "Ivo",
        "family_name": "Instructor",
        "email": "ivo.instructor@acme.example",
    },
    {
        "user_id": "u-lena",
        "roles": [LEARNER],
        "name": "Lena Learner",
        "given_name": "Lena",
        "family_name": "Learner",
        "email": "lena.learner@acme.example",
    },
    {
        "user_id": "u-max",
        "roles": [LEARNER],
        "name": "Max Mentor",
        "given_name": "Max",
        "family_name": "Mentor",
        "email": "max.mentor@acme.example",
    },
    {
        "user_id": "u-nora",
        "roles": [LEARNER],
        "name": "Nora Newcomer",
        "given_name": "Nora",
        "family_name": "Newcomer",
        "email": "nora.newcomer@acme.example",
    },
    {
        "user_id": "u-omar",
        "roles": [LEARNER],
        "status": "Inactive",
        "name": "Omar Offline",
        "given_name": "Omar",
        "family_name": "Offline",
        "email": "omar.offline@acme.example",
    },
]
PAGE_SIZE = 3

_LAUNCH_FORM = """<!doctype html>
<html><body>
<form id="lti-launch" action="{{ launch_url }}" method="post">
  <input type="hidden" name="id_token" value="{{ id_token }}">
  <input type="hidden" name="state" value="{{ state }}">
</form>
<script>document.getElementById("lti-launch").submit();</script>
</body></html>"""


def new_key_pair() -> tuple[str, str]:
    """A platform RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class PlatformState:
    """Everything the platform knows and everything it saw (for the tests' assertions)."""

    private_pem: str
    public_pem: str
    tool: dict[str, t.Any] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    lineitems: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    scores: dict[str, list[dict[str, t.Any]]] = field(default_factory=dict)
    score_posts: list[tuple[str, dict[str, t.Any]]] = field(default_factory=list)
    id_tokens: list[dict[str, t.Any]] = field(default_factory=list)
    token_requests: list[dict[str, t.Any]] = field(default_factory=list)
    roster_requests: list[str] = field(default_factory=list)
    deep_link_responses: list[dict[str, t.Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add_link(
        self, link_id: str, *, title: str, custom: dict[str, str], graded: bool = False
    ) -> Link:
        """Place a link to the tool in the course (with a gradebook column if graded)."""
        link = Link(link_id, title, dict(custom))
        if graded:
            item = self.create_lineitem(
                {
                    "label": title,
                    "scoreMaximum": 100,
                    "resourceLinkId": link_id,
                    "resourceId": custom.get("program") and f"tandem-program-{custom['program']}",
                }
            )
            link.lineitem = item["id"]
        self.links[link_id] = link
        return link

    def create_lineitem(self, data: Mapping[str, t.Any]) -> dict[str, t.Any]:
        """A new gradebook column; its id is its URL (Moodle style, with a query)."""
        number = len(self.lineitems) + 1
        path = LINEITEMS_URL.split("?")[0]
        item = {k: v for k, v in data.items() if v is not None}
        item["id"] = f"{path}/{number}/lineitem?type_id=1"
        self.lineitems[item["id"]] = item
        self.scores[item["id"]] = []
        return item


# --------------------------------------------------------------------------- lti1p3platform glue


class FlaskPlatformRequest(Request):
    """lti1p3platform's request metadata from the current Flask request."""

    def build_metadata(self, request: t.Any) -> TRequest:
        return {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": dict(request.headers),
            "content_type": request.content_type,
            "path": request.path,
            "json": request.get_json(silent=True),
        }


class PlatformConf(LTI1P3PlatformConfAbstract):
    """The platform's single registration: Tandem, configured from its config.json."""

    state: PlatformState

    def init_platform_config(self, **kwargs: t.Any) -> None:
        self.state = kwargs["state"]

    def get_registration_by_params(self, **kwargs: t.Any) -> Registration:
        tool = self.state.tool
        return (
            Registration()
            .set_iss(ISSUER)
            .set_client_id(CLIENT_ID)
            .set_deployment_id(DEPLOYMENT_ID)
            .set_oidc_login_url(tool["initiate_login_uri"])
            .set_launch_url(tool["target_link_uri"])
            .set_deeplink_launch_url(tool["deep_linking_url"])
            .set_tool_key_set_url(tool["jwks_uri"])
            .set_platform_private_key(self.state.private_pem)
            .set_platform_public_key(self.state.public_pem)
        )


class OIDCLogin(OIDCLoginAbstract):
    """Third-party-initiated login: redirects the browser to the tool's login URL."""

    def set_lti_message_hint(self, **kwargs: t.Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> t.Any:
        return redirect(url, 302)


class MessageLaunch(LTIAdvantageMessageLaunchAbstract):
    """The id_token launch, rendered as the auto-posting form of LTI 1.3 core §5.1.2."""

    def render_launch_form(self, launch_data: dict[str, t.Any], **kwargs: t.Any) -> t.Any:
        return render_template_string(_LAUNCH_FORM, **launch_data)


class AgsService(AssignmentsGradesService):
    """Line items, scores and results kept in :class:`PlatformState`."""

    state: PlatformState

    def find_lineitems(self, page: t.Any = 1, limit: t.Any = None, **filters: t.Any) -> TPage:
        items = list(self.state.lineitems.values())
        for param, key in (
            ("resource_link_id", "resourceLinkId"),
            ("resource_id", "resourceId"),
            ("tag", "tag"),
        ):
            if filters.get(param):
                items = [i for i in items if i.get(key) == filters[param]]
        return {"content": items, "has_next": False, "next": None}

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        item = self.state.lineitems.get(line_item_id)
        if item is None:
            raise LineItemNotFoundException(line_item_id)
        return t.cast(TLineItem, item)

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        return t.cast(TLineItem, self.state.create_lineitem(creation_data))

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        item = self.find_lineitem(update_data["id"])
        t.cast(dict[str, t.Any], item).update(update_data)
        return item

    def delete_lineitem(self, line_item_id: str) -> None:
        self.find_lineitem(line_item_id)
        del self.state.lineitems[line_item_id]

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        self.find_lineitem(line_item_id)
        self.state.score_posts.append((line_item_id, dict(score)))
        scores = self.state.scores[line_item_id]
        earlier = [s for s in scores if s.get("userId") == score.get("userId")]
        if earlier and str(earlier[-1].get("timestamp")) > str(score.get("timestamp")):
            # AGS 2.0 §3.4.6: never replace a result by an older score.
            return UpdateScoreStatus.OLD_TIMESTAMP
        scores.append(dict(score))
        return UpdateScoreStatus.SUCCESS

    def get_results(
        self, line_item_id: str, page: t.Any = 1, limit: t.Any = None, **filters: t.Any
    ) -> TPage:
        item = self.find_lineitem(line_item_id)
        latest: dict[str, dict[str, t.Any]] = {}
        for score in self.state.scores[line_item_id]:
            latest[str(score.get("userId"))] = score
        results = [
            {
                "id": f"{item['id'].split('?')[0]}/results/{user}",
                "scoreOf": item["id"],
                "userId": user,
                "resultScore": score.get("scoreGiven"),
                "resultMaximum": score.get("scoreMaximum"),
                "timestamp": score.get("timestamp"),
            }
            for user, score in latest.items()
            if not filters.get("user_id") or filters["user_id"] == user
        ]
        return {"content": results, "has_next": False, "next": None}


class NrpsService(NamesRoleProvisioningService):
    """The course roster in pages of :data:`PAGE_SIZE`; page 2 needs the exact cursor."""

    state: PlatformState
    next_url: str | None = None

    def get_context_by_id(self) -> Context:
        return Context(id=COURSE_ID, label="RM26", title=COURSE_TITLE)

    def get_member_data_page(
        self,
        page: t.Any = 1,
        limit: t.Any = None,
        role: t.Any = None,
        since: t.Any = None,
        **extra: t.Any,
    ) -> TPage:
        number = int(page)
        if number > 1 and extra.get("Cursor") != NEXT_CURSOR:
            raise LtiServiceException("unknown roster cursor (was the next URL changed?)", 400)
        start = (number - 1) * PAGE_SIZE
        content = [dict(m) for m in MEMBERS[start : start + PAGE_SIZE]]
        has_next = start + PAGE_SIZE < len(MEMBERS)
        self.next_url = (
            f"{MEMBERSHIPS_URL}?{urlencode({'page': number + 1, 'Cursor': NEXT_CURSOR})}"
            if has_next
            else None
        )
        return {"content": content, "has_next": has_next, "next": self.next_url}


def _answer(
    resp: LtiResponse, *, body: t.Any = None, headers: dict[str, str] | None = None
) -> Response:
    """lti1p3platform's service response as a Flask response."""
    if resp.code >= 400:
        return Response(
            json.dumps({"error": resp.message}), status=resp.code, mimetype="application/json"
        )
    payload = resp.result if body is None else body
    if payload is None:
        return Response(status=resp.code, headers=headers)
    return Response(
        json.dumps(payload), status=resp.code, content_type=resp.media_type, headers=headers
    )


# --------------------------------------------------------------------------- the Flask app


def create_platform_app(state: PlatformState) -> Flask:
    """The platform as a Flask app around lti1p3platform."""
    app = Flask("e2e_platform")
    app.config["TESTING"] = True

    def conf() -> PlatformConf:
        """The platform's configuration with its registration loaded (one per request)."""
        c = PlatformConf(state=state)
        c.get_registration()
        return c

    def ags(lineitem_url: str | None = None) -> AgsService:
        service = AgsService(FlaskPlatformRequest(request), conf(), LINEITEMS_URL, lineitem_url)
        service.state = state
        return service

    @app.get("/course/launch")
    def start_launch() -> t.Any:
        """The user clicks a link in the course (or "add an activity": ``link=deep-link``)."""
        user, link = request.args["user"], request.args["link"]
        if user not in USERS or (link != "deep-link" and link not in state.links):
            abort(404)
        login = OIDCLogin(FlaskPlatformRequest(request), conf())
        login.set_lti_message_hint(hint=link)
        if link == "deep-link":
            login.set_deeplinking_launch_url()
        return login.initiate_login(user)

    @app.route("/oidc/auth", methods=["GET", "POST"])
    def authorize() -> t.Any:
        """The OIDC authorization endpoint: checks the tool's request, then launches."""
        params = request.values
        expected = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": CLIENT_ID,
        }
        wrong = [k for k, v in expected.items() if params.get(k) != v]
        # lti1p3platform 0.1.8 does not check redirect_uri; Moodle requires an exact match.
        if params.get("redirect_uri") not in state.tool["redirect_uris"]:
            wrong.append("redirect_uri")
        user = USERS.get(params.get("login_hint", ""))
        hint = params.get("lti_message_hint", "")
        if user is None:
            wrong.append("login_hint")
        if hint != "deep-link" and hint not in state.links:
            wrong.append("lti_message_hint")
        if wrong or user is None:
            state.errors.append(f"authorization request: wrong {', '.join(wrong)}")
            return Response(f"invalid request: {', '.join(wrong)}", status=400)

        launch = MessageLaunch(FlaskPlatformRequest(request), conf())
        launch.set_user_data(user.user_id, list(user.roles), user.name, user.email)
        launch.set_launch_context_claim(
            COURSE_ID,
            context_types=[COURSE_SECTION],
            context_title=COURSE_TITLE,
            context_label="RM26",
        )
        launch.set_launch_presentation_claim(
            document_target="iframe", return_url=ISSUER + "/course"
        )
        launch.set_nrps(MEMBERSHIPS_URL)
        if hint == "deep-link":
            launch.set_dl(
                DEEP_LINK_RETURN_URL,
                title="Add activities",
                accept_types={"ltiResourceLink"},
                extra_data={"placement": "section-3"},
            )
        else:
            link = state.links[hint]
            launch.set_resource_link_claim(link.id, title=link.title)
            launch.set_custom_parameters_claim(dict(link.custom))
            launch.set_ags(LINEITEMS_URL, lineitem_url=link.lineitem, allow_creating_lineitems=True)
        try:
            html = launch.lti_launch()
        except PreflightRequestValidationException:
            return Response("invalid authorization request", status=400)
        token = re.search(r'name="id_token" value="([^"]+)"', html)
        if token:
            state.id_tokens.append(jwt.decode(token.group(1), options={"verify_signature": False}))
        return html

    @app.get("/oidc/jwks")
    def jwks() -> t.Any:
        return jsonify(conf().get_jwks())

    @app.post("/oauth2/token")
    def token() -> t.Any:
        """OAuth 2 client credentials with a signed JWT assertion (LTI Security §4.1)."""
        c = conf()
        data = request.form.to_dict()
        try:
            body = c.get_access_token(data)
        except (MissingRequiredClaim, UnsupportedGrantType, LtiException, jwt.PyJWTError) as exc:
            state.errors.append(f"token request refused: {exc!r}")
            return jsonify({"error": "invalid_client"}), 400
        assertion = jwt.decode(data["client_assertion"], options={"verify_signature": False})
        state.token_requests.append(
            {
                "assertion": assertion,
                "assertion_type": data.get("client_assertion_type"),
                "requested": data.get("scope", "").split(),
                "granted": body["scope"].split(),
            }
        )
        return jsonify(body)

    @app.get("/nrps/<course>/memberships")
    def memberships(course: str) -> t.Any:
        if course != COURSE_ID:
            abort(404)
        state.roster_requests.append(request.url)
        service = NrpsService(FlaskPlatformRequest(request), conf(), MEMBERSHIPS_URL)
        service.state = state
        resp = service.handle_resp(service.handle_get_members)
        headers = {"Link": generate_next_link(service.next_url)} if service.next_url else None
        return _answer(resp, headers=headers)

    @app.route("/ags/<course>/lineitems", methods=["GET", "POST"])
    def lineitems(course: str) -> t.Any:
        service = ags()
        if request.method == "POST":
            return _answer(service.handle_resp(service.handle_create_lineitem))
        resp = service.handle_resp(service.handle_get_lineitems)
        return _answer(resp, body=resp.result["content"] if resp.result else None)

    def _lineitem_id(course: str, number: int) -> str:
        return f"{LINEITEMS_URL.split('?')[0]}/{number}/lineitem?type_id=1"

    @app.route("/ags/<course>/lineitems/<int:number>/lineitem", methods=["GET", "PUT", "DELETE"])
    def lineitem(course: str, number: int) -> t.Any:
        item_id = _lineitem_id(course, number)
        service = ags(item_id)
        handler = {
            "GET": service.handle_get_lineitem,
            "PUT": service.handle_update_lineitem,
            "DELETE": service.handle_delete_lineitem,
        }[request.method]
        return _answer(service.handle_resp(handler, line_item_id=item_id))

    @app.post("/ags/<course>/lineitems/<int:number>/lineitem/scores")
    def scores(course: str, number: int) -> t.Any:
        if request.mimetype != SCORE_MEDIA_TYPE:
            return Response("scores must be " + SCORE_MEDIA_TYPE, status=415)
        item_id = _lineitem_id(course, number)
        service = ags(item_id)
        return _answer(service.handle_resp(service.handle_update_score, line_item_id=item_id))

    @app.get("/ags/<course>/lineitems/<int:number>/lineitem/results")
    def results(course: str, number: int) -> t.Any:
        item_id = _lineitem_id(course, number)
        service = ags(item_id)
        resp = service.handle_resp(service.handle_get_results, line_item_id=item_id)
        return _answer(resp, body=resp.result["content"] if resp.result else None)

    @app.post("/deep-link/return")
    def deep_link_return() -> t.Any:
        """The tool's LtiDeepLinkingResponse: validated, then placed in the course."""
        c = conf()
        c.set_accepted_deeplinking_types(["ltiResourceLink"])
        try:
            items = c.validate_deeplinking_resp(request.form.to_dict())
        except (LtiDeepLinkingResponseException, LtiException, jwt.PyJWTError, KeyError) as exc:
            state.errors.append(f"deep-linking response refused: {exc!r}")
            return Response(f"invalid deep-linking response: {exc}", status=400)
        claims = jwt.decode(request.form["JWT"], options={"verify_signature": False})
        state.deep_link_responses.append({"items": items, "claims": claims})
        for item in items:
            custom = {k: str(v) for k, v in (item.get("custom") or {}).items()}
            link = state.add_link(
                f"dl-{len(state.links) + 1}", title=item.get("title", ""), custom=custom
            )
            if item.get("lineItem"):
                created = state.create_lineitem({**item["lineItem"], "resourceLinkId": link.id})
                link.lineitem = created["id"]
        return Response(
            f"<p>{len(items)} activities added to the course.</p>", mimetype="text/html"
        )

    return app


# --------------------------------------------------------------------------- wiring


class HttpRouter:
    """Answers ``requests`` calls to a base URL from a Flask app's test client."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock
        self.calls: list[tuple[str, str]] = []

    def route(self, base_url: str, app: Flask) -> None:
        """Send every request under ``base_url`` to ``app`` (a fresh test client each)."""
        pattern = re.compile("^" + re.escape(base_url.rstrip("/")) + r"(?:[/?].*)?$")

        def callback(prepared: t.Any) -> tuple[int, list[tuple[str, str]], bytes]:
            parts = urlsplit(prepared.url)
            path = parts.path + ("?" + parts.query if parts.query else "")
            self.calls.append((prepared.method, prepared.url))
            headers = {
                k: v
                for k, v in prepared.headers.items()
                if k.lower() not in ("host", "content-length")
            }
            body = prepared.body
            resp = app.test_client().open(
                path, method=prepared.method, headers=headers, data=body, base_url=base_url
            )
            out = [(k, v) for k, v in resp.headers.items() if k.lower() != "content-length"]
            return resp.status_code, out, resp.get_data()

        for method in (responses.GET, responses.POST, responses.PUT, responses.DELETE):
            self.mock.add_callback(method, pattern, callback=callback)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            form = self.forms[-1]
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                form.choices.setdefault(a["name"], []).append(a.get("value", "on"))
                if "checked" in a:
                    form.fields.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button", "image", "reset"):
                form.fields.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self.forms[-1].choices.setdefault(a["name"], [])
        elif tag == "option" and self._select:
            self.forms[-1].choices[self._select].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


@dataclass
class Form:
    """An HTML form: where it posts, its filled fields and the choices it offers."""

    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    choices: dict[str, list[str]] = field(default_factory=dict)

    def value(self, name: str) -> str:
        """The value of a (hidden) field."""
        for key, value in self.fields:
            if key == name:
                return value
        raise KeyError(name)


def forms_of(html: str) -> list[Form]:
    """Every form of a page."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


@dataclass
class Page:
    """What the browser shows: the last response after following redirects."""

    url: str
    status: int
    headers: Mapping[str, str]
    text: str
    history: list[tuple[int, str]]

    def form(self, action_suffix: str = "") -> Form:
        """The page's first form (whose action ends with ``action_suffix``)."""
        found = [f for f in forms_of(self.text) if f.action.endswith(action_suffix)]
        assert found, f"no form {action_suffix!r} on {self.url}: {self.text[:400]}"
        return found[0]


class Browser:
    """One user's browser across the apps, each reached through its own test client.

    Cookies live in each app's client (a browser keeps them per site). Redirects are
    followed; :meth:`submit` posts a page's form like the auto-submit script would.
    """

    def __init__(self, sites: Mapping[str, Flask]) -> None:
        self.clients: dict[str, FlaskClient] = {
            urlsplit(base).netloc: app.test_client() for base, app in sites.items()
        }
        self.bases = {urlsplit(base).netloc: base for base in sites}

    def client_for(self, url: str) -> tuple[FlaskClient, str, str]:
        parts = urlsplit(url)
        netloc = parts.netloc
        if netloc not in self.clients:
            raise AssertionError(f"the browser was sent to an unknown site: {url}")
        path = parts.path + ("?" + parts.query if parts.query else "")
        return self.clients[netloc], path, self.bases[netloc]

    def open(
        self,
        url: str,
        *,
        method: str = "GET",
        data: list[tuple[str, str]] | None = None,
        follow: bool = True,
        max_redirects: int = 10,
    ) -> Page:
        """Request ``url`` and follow redirects like a browser."""
        history: list[tuple[int, str]] = []
        for _ in range(max_redirects):
            client, path, base = self.client_for(url)
            form = MultiDict(data) if data is not None else None
            resp = client.open(path, method=method, data=form, base_url=base)
            history.append((resp.status_code, url))
            location = resp.headers.get("Location")
            if follow and resp.status_code in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                if resp.status_code in (301, 302, 303):
                    method, data = "GET", None
                continue
            return Page(
                url, resp.status_code, dict(resp.headers), resp.get_data(as_text=True), history
            )
        raise AssertionError(f"too many redirects: {history}")

    def submit(
        self,
        page: Page,
        *,
        set_fields: Mapping[str, str | list[str]] | None = None,
        follow: bool = True,
        action_suffix: str = "",
    ) -> Page:
        """Submit the page's form (its hidden fields, plus ``set_fields``)."""
        form = page.form(action_suffix)
        fields = [(k, v) for k, v in form.fields if not set_fields or k not in set_fields]
        for name, value in (set_fields or {}).items():
            for v in [value] if isinstance(value, str) else value:
                fields.append((name, v))
        action = urljoin(page.url, form.action or page.url)
        if form.method == "post":
            return self.open(action, method="POST", data=fields, follow=follow)
        query = urlencode(fields)
        return self.open(action + ("&" if "?" in action else "?") + query, follow=follow)


def query_of(url: str) -> dict[str, str]:
    """A URL's query parameters (last value wins)."""
    return dict(parse_qsl(urlsplit(url).query))
