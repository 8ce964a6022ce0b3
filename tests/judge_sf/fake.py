"""A minimal, independent SuccessFactors: HXM OData v2 ``User``, the SAML-bearer token
endpoint, and Learning (token server, external learning events, learning history).

Written from ``shared/reference/successfactors.md`` and SAP's public OData v2
conventions, not from ``fakes/successfactors``. It keeps the traps of a real tenant:

* ``User`` returns active users only unless ``$filter`` names the status — and an ``or``
  in the filter brings the implicit active-only filter back;
* server paging: the server caps the page size (``max_page``), ``__next`` is absolute and
  carries a base64 ``{"startRow", "endRow"}`` skiptoken; the query lives in the HTTP
  session (cookie ``JSESSIONID``), ``paging=snapshot`` freezes the result only when asked,
  otherwise each page is cut from the current data; a row may be repeated on the next
  page;
* ``manager`` expanded (``{"userId": …}`` or ``null``), or ``{"__deferred": …}`` without
  ``$expand`` (or always, with ``expand_supported = False``);
* ``/Date(ms)/`` and ``/Date(ms+0060)/`` values, missing optional fields;
* faults: 429 with ``Retry-After`` (seconds or an HTTP date), 503, a slow answer (the
  client's read timeout), OData error envelopes on 400;
* ``/oauth/token`` checks a signed SAML 2.0 assertion (signature against the registered
  certificate, issuer, subject, audience, validity);
* Learning: its own token server, ``ExternalLearningEvents`` (≤ 10 per call, per-row
  failures inside HTTP 200, outages before or after processing), learning history.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request
from lxml import etree  # type: ignore[import-untyped]
from signxml import XMLVerifier
from signxml.exceptions import InvalidSignature
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
GRANT = "urn:ietf:params:oauth:grant-type:saml2-bearer"
EVENTS_PATH = "/learning/odatav4/public/admin/learningevent-service/v1/ExternalLearningEvents"
HISTORY_PATH = "/learning/odatav4/public/user/userlearning-service/v1/learninghistorys"
NO_RESULTS = "No search results for provided search criteria"
LEARNING_TOKEN_PATH = "/learning/oauth-api/rest/v1/token"

#: User properties of this tenant (PLTUserManagement), and those not filterable.
USER_PROPERTIES = frozenset(
    {
        "userId",
        "username",
        "status",
        "firstName",
        "lastName",
        "defaultFullName",
        "email",
        "empId",
        "department",
        "division",
        "location",
        "jobCode",
        "jobTitle",
        "hireDate",
        "timeZone",
        "country",
        "defaultLocale",
        "lastModified",
        "lastModifiedDateTime",
        "lastModifiedWithTZ",
        "manager",
    }
)
NOT_FILTERABLE = frozenset({"email", "hireDate", "defaultFullName", "empId", "jobTitle"})


def odata_date(ms: int, offset: str = "") -> str:
    """``/Date(ms)/`` or ``/Date(ms+0060)/``."""
    return f"/Date({ms}{offset})/"


def ms_of(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The OData v2 error envelope."""
    body = {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers=headers or {}
    )


def ok(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=200, mimetype="application/json", headers=headers)


@dataclass
class Fault:
    """One injected failure: matched by path prefix, method and an optional predicate."""

    path: str
    method: str = "GET"
    status: int | None = 503
    retry_after: str | None = None
    delay: float = 0.0
    times: int = 1
    when: Callable[[], bool] | None = None
    #: Learning POSTs: store the events first, then fail (the answer is lost).
    after_processing: bool = False
    body: Any = None

    def matches(self) -> bool:
        return (
            self.times > 0
            and request.path.startswith(self.path)
            and self.method in (request.method, "*")
            and (self.when is None or self.when())
        )


def page_is(n: int, *, page_size: int) -> Callable[[], bool]:
    """Matches the ``n``-th page (1-based) of a collection read."""

    def check() -> bool:
        token = request.args.get("$skiptoken")
        if token is None:
            return n == 1
        start = json.loads(base64.b64decode(token.replace(" ", "+")))["startRow"]
        return bool(start // page_size + 1 == n)

    return check


@dataclass
class JudgeTenant:
    """The tenant's data and switches; the app reads it on every request."""

    company_id: str = "JUDGECO"
    client_id: str = "judge-api-key"
    api_user: str = "sfapi"
    certificate_pem: str = ""
    max_page: int = 20
    expand_supported: bool = True
    #: Repeat the last row of a page as the first of the next one (on these pages).
    repeat_on_pages: frozenset[int] = frozenset({2, 4})
    users: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    learning_tokens: set[str] = field(default_factory=set)
    learning_secret: str | None = None
    learning_accepts_platform_tokens: bool = True
    #: Students Learning refuses (per row, inside HTTP 200).
    refused_students: set[str] = field(default_factory=set)
    learning_events: list[dict[str, Any]] = field(default_factory=list)
    learning_batches: list[int] = field(default_factory=list)
    #: Called once after page 1 of a User read was served (data changes mid-read).
    after_first_page: Callable[[], None] | None = None
    _cursors: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **user: Any) -> dict[str, Any]:
        user.setdefault("lastModified", ms_of(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)))
        self.users.append(user)
        return user

    def get(self, user_id: str) -> dict[str, Any] | None:
        return next((u for u in self.users if u.get("userId") == user_id), None)

    def calls(self, path: str, method: str = "GET") -> list[dict[str, str]]:
        return [args for m, p, args in self.log if p.startswith(path) and m == method]

    def events_of(self, student: str) -> list[dict[str, Any]]:
        return [e for e in self.learning_events if e["studentID"] == student]


# --------------------------------------------------------------------------- $filter


_CLAUSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^status\s+in\s+\(?((?:'[^']*'\s*,?\s*)+)\)?$"), "status_in"),
    (re.compile(r"^(\w+)\s+eq\s+'([^']*)'$"), "eq"),
    (
        re.compile(
            r"^lastModifiedDateTime\s+(ge|gt|le|lt)\s+datetime(?:offset)?'([0-9T:.\-]+Z?)'$"
        ),
        "modified",
    ),
]


class BadFilter(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _clause(text: str) -> tuple[Callable[[dict[str, Any]], bool], bool]:
    """A predicate of one clause, and whether it filters on the status."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    for pattern, kind in _CLAUSES:
        found = pattern.match(text)
        if not found:
            continue
        if kind == "status_in":
            wanted = set(re.findall(r"'([^']*)'", found[1]))
            return (lambda u, w=wanted: u.get("status") in w), True
        if kind == "eq":
            name, value = found[1], found[2]
            if name not in USER_PROPERTIES:
                raise BadFilter("COE_PROPERTY_NOT_FOUND", f"Invalid property names: User/{name}")
            if name in NOT_FILTERABLE:
                raise BadFilter(
                    "COE_PROPERTY_NOT_FILTERABLE", f"[COE0021]Property {name} is not filterable."
                )
            return (lambda u, n=name, v=value: u.get(n) == v), name == "status"
        op, raw = found[1], found[2]
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        limit = ms_of(when)
        compare = {
            "ge": int.__ge__,
            "gt": int.__gt__,
            "le": int.__le__,
            "lt": int.__lt__,
        }[op]
        return (lambda u, c=compare, x=limit: bool(c(int(u["lastModified"]), x))), False
    raise BadFilter("COE_GENERAL_BAD_REQUEST", "[COE0021]Invalid filter expression.")


def user_filter(expression: str | None) -> Callable[[dict[str, Any]], bool]:
    """The rows a ``$filter`` keeps, with SuccessFactors' implicit active-only filter."""
    active_only: Callable[[dict[str, Any]], bool] = lambda u: u.get("status") in ("t", "T")  # noqa: E731
    if not expression or not expression.strip():
        return active_only
    branches = [
        [_clause(c) for c in re.split(r"\s+and\s+", branch)]
        for branch in re.split(r"\s+or\s+", expression.strip())
    ]
    explicit = len(branches) == 1 and any(is_status for _p, is_status in branches[0])

    def keep(u: dict[str, Any]) -> bool:
        hit = any(all(p(u) for p, _s in branch) for branch in branches)
        return hit and (explicit or active_only(u))

    return keep


# --------------------------------------------------------------------------- app


def create_judge_app(tenant: JudgeTenant) -> Flask:
    app = Flask("judge_sf")

    @app.before_request
    def _faults() -> Response | None:
        tenant.log.append((request.method, request.path, dict(request.args)))
        for fault in tenant.faults:
            if fault.after_processing or not fault.matches():
                continue
            fault.times -= 1
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is None:
                return None
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            if fault.body is not None:
                return Response(
                    json.dumps(fault.body),
                    status=fault.status,
                    mimetype="application/json",
                    headers=headers,
                )
            return Response(
                "<html><body>Service Unavailable</body></html>",
                status=fault.status,
                mimetype="text/html",
                headers=headers,
            )
        return None

    # ---------------------------------------------------------------- token

    @app.post("/oauth/token")
    def token() -> Response:
        form = request.form
        if form.get("grant_type") != GRANT:
            return error(400, "unsupported_grant_type", "grant_type must be saml2-bearer")
        if form.get("company_id") != tenant.company_id:
            return error(401, "invalid_company", "Unknown company_id")
        if form.get("client_id") != tenant.client_id:
            return error(401, "invalid_client", "Unknown client_id")
        problem = _check_assertion(form.get("assertion") or "", tenant)
        if problem:
            return error(401, "invalid_grant", problem)
        access = secrets.token_urlsafe(24)
        tenant.tokens.add(access)
        return ok({"access_token": access, "token_type": "Bearer", "expires_in": 3600})

    def _bearer(valid: set[str]) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in valid

    # ---------------------------------------------------------------- OData

    @app.get("/odata/v2/User")
    def users() -> Response:
        if not _bearer(tenant.tokens):
            return error(401, "COE_AUTHENTICATION_FAILED", "Authentication failed")
        session_id = request.cookies.get("JSESSIONID")
        token = request.args.get("$skiptoken")
        if token is None:
            session_id = session_id or secrets.token_hex(8)
            query = dict(request.args)
            try:
                keep = user_filter(query.get("$filter"))
                selected = _selection(query.get("$select"))
            except BadFilter as exc:
                return error(400, exc.code, str(exc))
            size = min(
                int(query.get("customPageSize") or 1000),
                int(query.get("$top") or 10**9),
                tenant.max_page,
            )
            state = {
                "query": query,
                "keep": keep,
                "selected": selected,
                "size": size,
                "snapshot": (
                    [dict(u) for u in tenant.users if keep(u)]
                    if query.get("paging") == "snapshot"
                    else None
                ),
                "served": 0,
            }
            with tenant._lock:
                tenant._cursors[session_id, "User"] = state
            start = int(query.get("$skip") or 0)
        else:
            state = tenant._cursors.get((session_id or "", "User"))
            if state is None:
                return error(
                    400,
                    "COE_GENERAL_BAD_REQUEST",
                    "[COE0020]Skiptoken is invalid or the session expired; send the session "
                    "cookie back.",
                )
            start = int(json.loads(base64.b64decode(token.replace(" ", "+")))["startRow"])
        rows = (
            state["snapshot"]
            if state["snapshot"] is not None
            else [u for u in tenant.users if state["keep"](u)]
        )
        size = state["size"]
        page_number = start // size + 1
        page = rows[start : start + size]
        if page_number in tenant.repeat_on_pages and start > 0:
            page = [rows[start - 1], *page]
        expand = "manager" in (state["query"].get("$expand") or "").split(",")
        base = request.host_url.rstrip("/")
        body: dict[str, Any] = {
            "results": [_render(u, state["selected"], expand, base, tenant) for u in page]
        }
        end = start + size
        if end < len(rows):
            skip = base64.b64encode(
                json.dumps({"startRow": end, "endRow": end + size}).encode()
            ).decode()
            body["__next"] = f"{base}/odata/v2/User?$format=json&$skiptoken={skip}" + (
                "&paging=snapshot" if state["snapshot"] is not None else ""
            )
        response = ok({"d": body})
        response.set_cookie("JSESSIONID", session_id or "", httponly=True)
        if page_number == 1 and tenant.after_first_page is not None:
            hook, tenant.after_first_page = tenant.after_first_page, None
            hook()
        return response

    @app.get("/odata/v2/User(<key>)/manager")
    def manager_of(key: str) -> Response:
        if not _bearer(tenant.tokens):
            return error(401, "COE_AUTHENTICATION_FAILED", "Authentication failed")
        user = tenant.get(key.strip("'").replace("''", "'"))
        if user is None:
            return error(404, "COE_ENTITY_NOT_FOUND", "Entity User not found")
        boss = tenant.get(user.get("manager") or "")
        base = request.host_url.rstrip("/")
        return ok({"d": _render(boss, {"userId"}, False, base, tenant) if boss else None})

    @app.get("/odata/v2/<entity>")
    def other(entity: str) -> Response:
        if not _bearer(tenant.tokens):
            return error(401, "COE_AUTHENTICATION_FAILED", "Authentication failed")
        if entity in ("SkillEntity", "RatedSkillMapping"):
            return ok({"d": {"results": []}})
        return error(404, "COE_RESOURCE_NOT_FOUND", f"Entity {entity} is not found.")

    # ---------------------------------------------------------------- Learning

    @app.post(LEARNING_TOKEN_PATH)
    def learning_token() -> Response:
        auth = request.authorization
        if (
            tenant.learning_secret is None
            or auth is None
            or auth.username != tenant.client_id
            or auth.password != tenant.learning_secret
        ):
            return Response(
                json.dumps({"error": "invalid_client", "error_description": "Bad credentials"}),
                status=401,
                mimetype="application/json",
            )
        body = request.get_json(silent=True) or {}
        scope = body.get("scope") or {}
        if (
            body.get("grant_type") != "client_credentials"
            or scope.get("companyId") != tenant.company_id
            or scope.get("userType") != "admin"
            or scope.get("resourceType") != "learning_public_api"
        ):
            return Response(
                json.dumps({"error": "invalid_scope", "error_description": "Bad scope"}),
                status=400,
                mimetype="application/json",
            )
        access = secrets.token_urlsafe(24)
        tenant.learning_tokens.add(access)
        return ok({"access_token": access, "token_type": "Bearer", "expires_in": 1800})

    def _learning_authorized() -> bool:
        valid = set(tenant.learning_tokens)
        if tenant.learning_accepts_platform_tokens:
            valid |= tenant.tokens
        return _bearer(valid)

    @app.post(EVENTS_PATH)
    def external_events() -> Response:
        if not _learning_authorized():
            return Response(
                json.dumps({"error": "invalid_token", "error_description": "Invalid token"}),
                status=401,
                mimetype="application/json",
            )
        payload = request.get_json(silent=True)
        events = payload.get("externalLearningEvents") if isinstance(payload, dict) else None
        if not isinstance(events, list) or not events:
            return error(400, "BAD_REQUEST", "externalLearningEvents is required")
        if len(events) > 10:
            return error(400, "BAD_REQUEST", "At most 10 externalLearningEvents per request")
        tenant.learning_batches.append(len(events))
        rows = []
        stored = []
        for event in events:
            problem = _event_problem(event, tenant)
            if problem:
                rows.append(
                    {
                        "studentID": event.get("studentID"),
                        "status": "FAILED",
                        "errorMessage": problem,
                    }
                )
            else:
                stored.append(dict(event))
                rows.append({"studentID": event["studentID"], "status": "SUCCESS"})
        tenant.learning_events.extend(stored)
        for fault in tenant.faults:
            if fault.after_processing and fault.matches():
                fault.times -= 1
                return Response("upstream timed out", status=fault.status or 504)
        return ok({"@odata.context": "$metadata#ExternalLearningEvents", "value": rows})

    @app.get(HISTORY_PATH)
    def history() -> Response:
        if not _learning_authorized():
            return Response(
                json.dumps({"error": "invalid_token", "error_description": "Invalid token"}),
                status=401,
                mimetype="application/json",
            )
        found = re.match(
            r"^criteria/targetUserID eq '((?:[^']|'')*)'$", request.args.get("$filter", "")
        )
        if not found:
            return error(400, "BAD_REQUEST", "criteria/targetUserID is required")
        student = found[1].replace("''", "'")
        items = [
            {
                "componentTypeID": "EXTERNAL",
                "componentID": f"EXT-{i}",
                "title": e["description"],
                "studentID": student,
                "completionDate": e["completionDate"],
                "completionStatusID": "COMPLETE",
                "totalHours": e.get("totalHours"),
            }
            for i, e in enumerate(tenant.learning_events)
            if e["studentID"] == student
        ]
        if not items:
            return Response(
                json.dumps({"error": {"message": NO_RESULTS}}),
                status=404,
                mimetype="application/json",
            )
        return ok({"@odata.context": "$metadata#learninghistorys", "value": items})

    return app


def _event_problem(event: Any, tenant: JudgeTenant) -> str | None:
    if not isinstance(event, dict):
        return "not an object"
    student = event.get("studentID")
    if not isinstance(student, str) or not student:
        return "studentID is required"
    if student in tenant.refused_students:
        return f"Student {student} does not exist in Learning"
    if not isinstance(event.get("description"), str) or not event["description"].strip():
        return "description is required"
    if not isinstance(event.get("completionDate"), int):
        return "completionDate must be epoch milliseconds"
    hours = event.get("totalHours")
    if hours is not None and (not isinstance(hours, int | float) or hours < 0):
        return "totalHours must be a positive number"
    return None


def _selection(select: str | None) -> set[str] | None:
    if not select:
        return None
    names = {n.strip() for n in select.split(",") if n.strip()}
    for name in names:
        head = name.split("/")[0]
        if head not in USER_PROPERTIES:
            raise BadFilter("COE_PROPERTY_NOT_FOUND", f"Invalid property names: User/{head}")
    return names


def _render(
    user: dict[str, Any],
    selected: set[str] | None,
    expand: bool,
    base: str,
    tenant: JudgeTenant,
) -> dict[str, Any]:
    key = user.get("userId")
    uri = f"{base}/odata/v2/User('{key}')"
    row: dict[str, Any] = {"__metadata": {"uri": uri, "type": "SFOData.User"}}
    values = dict(user)
    modified = user.get("lastModified")
    if modified is not None:
        values["lastModified"] = odata_date(int(modified))
        values["lastModifiedDateTime"] = odata_date(int(modified), user.get("offset", "+0000"))
        values["lastModifiedWithTZ"] = values["lastModifiedDateTime"]
    if isinstance(values.get("hireDate"), int):
        values["hireDate"] = odata_date(values["hireDate"])
    omitted = user.get("omit", ())
    for name in sorted(USER_PROPERTIES - {"manager"}):
        if (selected is not None and name not in selected) or name in omitted:
            continue
        if name not in values:
            if name not in ("userId", "status"):  # a broken record really lacks them
                row[name] = None
            continue
        row[name] = values[name]
    wants_manager = selected is None or any(n.split("/")[0] == "manager" for n in selected)
    if wants_manager:
        if expand and tenant.expand_supported:
            boss_id = user.get("manager")
            boss = tenant.get(boss_id) if boss_id else None
            if boss_id and boss is None:
                boss = {"userId": boss_id, "status": "f"}
            row["manager"] = (
                {
                    "__metadata": {
                        "uri": f"{base}/odata/v2/User('{boss_id}')",
                        "type": "SFOData.User",
                    },
                    "userId": boss["userId"],
                }
                if boss
                else None
            )
        else:
            row["manager"] = {"__deferred": {"uri": f"{uri}/manager"}}
    return row


def _check_assertion(encoded: str, tenant: JudgeTenant) -> str | None:
    """Why a SAML bearer assertion is refused, or None."""
    try:
        xml = base64.b64decode(encoded, validate=True)
    except ValueError:
        return "assertion is not base64"
    try:
        verified = XMLVerifier().verify(xml, x509_cert=tenant.certificate_pem)
    except (InvalidSignature, etree.XMLSyntaxError, ValueError) as exc:
        return f"assertion signature invalid: {type(exc).__name__}"
    root = verified.signed_xml
    if root is None or root.tag != f"{{{SAML}}}Assertion" or root.get("Version") != "2.0":
        return "not a SAML 2.0 assertion"
    ns = {"s": SAML}
    issuer = root.findtext("s:Issuer", namespaces=ns)
    subject = root.findtext("s:Subject/s:NameID", namespaces=ns)
    audience = root.findtext("s:Conditions/s:AudienceRestriction/s:Audience", namespaces=ns)
    if issuer != tenant.client_id:
        return "wrong issuer"
    if subject != tenant.api_user:
        return "wrong subject"
    if audience != "www.successfactors.com":
        return "wrong audience"
    conditions = root.find("s:Conditions", namespaces=ns)
    now = datetime.now(UTC)
    try:
        before = datetime.fromisoformat(conditions.get("NotBefore").replace("Z", "+00:00"))
        after = datetime.fromisoformat(conditions.get("NotOnOrAfter").replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return "no validity window"
    if not before <= now < after:
        return "assertion expired or not yet valid"
    return None


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


# --------------------------------------------------------------------------- serving


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class Swappable:
    """A WSGI app that serves whichever judge app the current test put in it."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 in a thread; yields its base URL."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
