"""SuccessFactors Learning (OData v4) as the fake serves it.

* ``POST /learning/oauth-api/rest/v1/token`` — Basic ``client_id:client_secret`` and a JSON
  body ``{"grant_type": "client_credentials", "scope": {"userId", "companyId", "userType",
  "resourceType": "learning_public_api"}}`` -> ``{"access_token", "expires_in": 1800,
  "token_type": "Bearer"}``.
* Learning APIs take that token **or** a platform token from ``/oauth/token`` (SAP KBA
  3693954). Unknown token: 401 ``{"error": "invalid_token", "error_description": …}``;
  expired: 401 ``{"error": "invalid_token", "error_description": "The token has expired."}``.
* ``POST …/admin/learningevent-service/v1/ExternalLearningEvents`` (and ``…/user/…``, where
  ``studentID`` defaults to the caller and may not name anyone else) with
  ``{"externalLearningEvents": [...]}``: at most 10 records (400 otherwise); unknown fields
  or wrong JSON types fail the whole request (400, OData v4 error). Each record needs
  ``description``, ``completionDate`` (epoch ms), ``studentID`` of a known user and — KBA
  2421887 marks it required — ``completionTimeZoneID`` (switch:
  ``tenant.learning_require_time_zone``). The answer is **200** with one result per record,
  in order: the record echoed plus ``"success": true|false`` and ``"errorMessage"`` (the
  result columns SAP documents as Success/ErrorMessage); a failed record is not stored.
  Events are not idempotent: posting the same one twice stores it twice (as SAP: "updates
  are not supported").
* ``GET /learning/odatav4/public/user/userlearning-service/v1/learninghistorys?$filter=
  criteria/targetUserID eq 'u1'`` -> ``{"@odata.context", "value": [...]}`` (``$count=true``
  adds ``@odata.count``); only ``eq`` criteria joined by ``and``; an admin token needs
  ``targetUserID``. No entries: ``{"error": {"code": …, "message": "No search results for
  provided search criteria"}}`` with status ``tenant.empty_history_status`` (500 by
  default: the public taps see it among 5xx answers; set 200 for ``{"value": []}``).
* Optional throttling: ``tenant.learning_rate_limit_per_minute`` -> 429 ``{"error":
  {"code": "429", "message": "API calling limit exceeded, Try later"}}`` with
  ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
import re
import zoneinfo
from typing import Any

from flask import Flask, Response, request

from fakes.successfactors.responses import json_response
from fakes.successfactors.tenant import FakeTenant, Token

__all__ = [
    "EVENTS_ADMIN_PATH",
    "EVENTS_USER_PATH",
    "HISTORY_PATH",
    "LEARNING_TOKEN_PATH",
    "register_learning",
]

LEARNING_TOKEN_PATH = "/learning/oauth-api/rest/v1/token"  # noqa: S105 - a path
EVENTS_ADMIN_PATH = "/learning/odatav4/public/admin/learningevent-service/v1/ExternalLearningEvents"
EVENTS_USER_PATH = "/learning/odatav4/public/user/learningevent-service/v1/ExternalLearningEvents"
HISTORY_PATH = "/learning/odatav4/public/user/userlearning-service/v1/learninghistorys"
_HISTORY_ALIASES = (
    HISTORY_PATH,
    "/learning/odatav4/public/user/userlearning-service/v1/LearningHistories",
    "/learning/odatav4/public/user/learningHistory/v1/learninghistorys",
)
MAX_EVENTS = 10
NO_RESULTS = "No search results for provided search criteria"
_EVENT_FIELDS: dict[str, tuple[type, ...]] = {
    "description": (str,),
    "studentID": (str,),
    "completionDate": (int,),
    "completionTimeZoneID": (str,),
    "grade": (str,),
    "creditHours": (int, float),
    "cpeHours": (int, float),
    "contactHours": (int, float),
    "totalHours": (int, float),
    "instructorName": (str,),
    "comments": (str,),
}
_CRITERION = re.compile(r"^criteria/(\w+)\s+(\w+)\s+(.+)$", re.IGNORECASE)


class LearningError(Exception):
    """An error answered in the Learning (OData v4) shape."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _v4_error(status: int, message: str, code: str | None = None) -> LearningError:
    return LearningError(status, {"error": {"code": code or str(status), "message": message}})


def _auth_error(description: str, error: str = "invalid_token") -> LearningError:
    return LearningError(
        401,
        {"error": error, "error_description": description},
        {"WWW-Authenticate": f'Bearer error="{error}"'},
    )


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return not zoneinfo.available_timezones()  # no tz database at all: accept
    return True


def _literal(text: str) -> Any:
    raw = text.strip()
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1].replace("''", "'")
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return int(raw)
    except ValueError:
        return raw


def learning_token(tenant: FakeTenant, *, admin: bool) -> Token:
    """The caller's Learning or platform token.

    Raises:
        LearningError: 401 missing/unknown/expired token, 403 a user token on an admin API.
    """
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _auth_error("Full authentication is required to access this resource", "unauthorized")
    token = tenant.token(value.strip())
    if token is None:
        raise _auth_error("Invalid access token.")
    if tenant.now() >= token.expires_at:
        raise _auth_error("The token has expired.")
    if admin and token.kind == "learning" and token.user_type != "admin":
        raise _v4_error(403, "An admin token is required for this service.")
    return token


def _throttle(tenant: FakeTenant) -> None:
    wait = tenant.learning_rate_limited()
    if wait is not None:
        raise LearningError(
            429,
            {"error": {"code": "429", "message": "API calling limit exceeded, Try later"}},
            {"Retry-After": str(int(wait + 0.999))},
        )


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(payload, status, headers)


def register_learning(app: Flask, tenant: FakeTenant) -> None:
    """Mount the Learning token server and APIs on ``app``."""

    @app.errorhandler(LearningError)
    def _learning_error(error: LearningError) -> Response:
        return _json(error.body, error.status, error.headers)

    @app.post(LEARNING_TOKEN_PATH)
    def learning_token_server() -> Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        client_id = secret = ""
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = (
                    base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                client_id = secret = ""
        if not client_id or not tenant.check_learning_client(client_id, secret):
            raise _auth_error("Bad client credentials", "invalid_client")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise LearningError(
                400, {"error": "invalid_request", "error_description": "A JSON body is required"}
            )
        if body.get("grant_type") != "client_credentials":
            raise LearningError(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
            )
        scope = body.get("scope")
        if not isinstance(scope, dict):
            raise LearningError(
                400, {"error": "invalid_scope", "error_description": "scope must be an object"}
            )
        problems = []
        if scope.get("companyId") != tenant.company_id:
            problems.append("companyId")
        if scope.get("resourceType") != "learning_public_api":
            problems.append("resourceType")
        user_type = scope.get("userType")
        if user_type not in ("admin", "user"):
            problems.append("userType")
        user_id = scope.get("userId")
        if not isinstance(user_id, str) or not tenant.is_known_login(user_id):
            problems.append("userId")
        if problems:
            raise LearningError(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": f"Invalid scope: {', '.join(problems)}",
                },
            )
        token = tenant.issue_token(
            kind="learning", client_id=client_id, user_id=str(user_id), user_type=str(user_type)
        )
        return _json(
            {
                "access_token": token.value,
                "expires_in": tenant.learning_token_lifetime,
                "token_type": "Bearer",
            }
        )

    def post_events(*, admin: bool) -> Response:
        token = learning_token(tenant, admin=admin)
        _throttle(tenant)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _v4_error(
                400, "The request body must be a JSON object with externalLearningEvents."
            )
        for name in body:
            if name not in ("externalLearningEvents", "@odata.type", "@odata.context"):
                raise _v4_error(400, f"'{name}' can not be mapped as a property or an annotation")
        records = body.get("externalLearningEvents")
        if not isinstance(records, list) or not records:
            raise _v4_error(400, "externalLearningEvents must be a non-empty array.")
        if len(records) > MAX_EVENTS:
            raise _v4_error(
                400,
                f"A maximum of {MAX_EVENTS} externalLearningEvents is allowed per call; "
                f"got {len(records)}.",
            )
        for record in records:
            if not isinstance(record, dict):
                raise _v4_error(400, "Every externalLearningEvents item must be an object.")
            for name, value in record.items():
                allowed = _EVENT_FIELDS.get(name)
                if allowed is None:
                    raise _v4_error(
                        400, f"'{name}' can not be mapped as a property or an annotation"
                    )
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, allowed)
                ):
                    raise _v4_error(
                        400, f"Cannot convert the value of '{name}' to the expected type."
                    )
        results = []
        for record in records:
            event = dict(record)
            if not admin:
                event.setdefault("studentID", token.user_id)
            error = _event_problem(tenant, event, token, admin=admin)
            if error is None:
                tenant.record_learning_event(event)
            results.append({**event, "success": error is None, "errorMessage": error})
        return _json({"@odata.context": "$metadata#ExternalLearningEvents", "value": results})

    @app.post(EVENTS_ADMIN_PATH)
    def admin_external_events() -> Response:
        return post_events(admin=True)

    @app.post(EVENTS_USER_PATH)
    def user_external_events() -> Response:
        return post_events(admin=False)

    def history() -> Response:
        token = learning_token(tenant, admin=False)
        _throttle(tenant)
        criteria: dict[str, Any] = {}
        text = request.args.get("$filter", "").strip()
        if text:
            for part in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
                match = _CRITERION.match(part.strip())
                if match is None:
                    raise _v4_error(400, "The URI is malformed.")
                if match.group(2).lower() != "eq":
                    raise _v4_error(400, "Operator used in each filter expression must be 'eq'")
                criteria[match.group(1)] = _literal(match.group(3))
        target = criteria.get("targetUserID")
        if target is None:
            if token.kind == "learning" and token.user_type == "user":
                target = token.user_id
            else:
                raise _v4_error(400, "The URI is malformed.")
        entries = tenant.learning_history(str(target))
        limit = criteria.get("maxNumberToRetrieve")
        if isinstance(limit, int) and limit >= 0:
            entries = entries[:limit]
        skip = request.args.get("$skip")
        top = request.args.get("$top")
        if skip and skip.isdigit():
            entries = entries[int(skip) :]
        if top and top.isdigit():
            entries = entries[: int(top)]
        if not entries:
            if tenant.empty_history_status == 200:
                return _json({"@odata.context": "$metadata#learninghistorys", "value": []})
            raise _v4_error(tenant.empty_history_status, NO_RESULTS)
        payload: dict[str, Any] = {"@odata.context": "$metadata#learninghistorys", "value": entries}
        if request.args.get("$count", "").lower() == "true":
            payload["@odata.count"] = len(entries)
        return _json(payload)

    for index, path in enumerate(_HISTORY_ALIASES):
        app.add_url_rule(path, f"learning_history_{index}", history, methods=["GET"])


def _event_problem(
    tenant: FakeTenant, event: dict[str, Any], token: Token, *, admin: bool
) -> str | None:
    student = event.get("studentID")
    if not student:
        return "studentID is required."
    if not admin and student != token.user_id:
        return f"User {token.user_id} is not authorized to record learning for {student}."
    if tenant.user_row(str(student)) is None:
        return f"Student ID {student} is not valid."
    description = event.get("description")
    if not isinstance(description, str) or not description.strip():
        return "description is required."
    if len(description) > 4000:
        return "description exceeds the maximum length of 4000."
    if event.get("completionDate") is None:
        return "completionDate is required."
    zone = event.get("completionTimeZoneID")
    if zone is None:
        if tenant.learning_require_time_zone:
            return "completionTimeZoneID is required."
    elif not _known_zone(str(zone)):
        return f"completionTimeZoneID {zone} is not a valid time zone."
    for name in ("totalHours", "creditHours", "cpeHours", "contactHours"):
        value = event.get(name)
        if value is not None and value < 0:
            return f"{name} must not be negative."
    return None
