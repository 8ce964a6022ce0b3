"""An in-memory LTI AGS platform for tests, served through a ``responses.RequestsMock``.

It behaves like Moodle's ``mod/lti`` services where that matters to the sink:

* ``POST /mod/lti/token.php`` — ``client_credentials`` with a JWT client assertion whose
  RS256 signature is checked against the tool's public JWKS (by ``kid``), with ``iss`` =
  ``sub`` = client id, ``aud`` = the token URL (or the configured audience), ``exp``,
  ``iat`` and a ``jti`` used once. Grants the intersection of the requested scopes and the
  platform's, else ``invalid_scope``.
* ``GET|POST /mod/lti/services.php/{course}/lineitems?type_id=…`` — the container, paged
  by ``Link: <…>; rel="next"`` (a mixed-case page token: a client that lower-cases the URL
  loops), filtered by ``resource_id``; POST creates a line item (``lineitem`` scope).
* ``GET …/lineitems/{id}/lineitem?type_id=…`` — one line item.
* ``POST …/lineitem/scores?type_id=…`` — validates the score; refuses with **409** a
  ``timestamp`` not newer than the user's stored one (Moodle's rule).
* ``GET …/lineitem/results?type_id=…&user_id=…`` — results; ``resultScore`` only for a
  ``FullyGraded`` score, ``timestamp`` for any stored one.

Bearer tokens are checked on every service call (401 unknown, 403 missing scope).
:meth:`FakeAgsPlatform.fail_next` makes the next calls answer 503 (with ``Retry-After``),
401 or anything else. Register it with ``assert_all_requests_are_fired=False``: a test
rarely calls every endpoint.

Needs ``responses`` (a test dependency); never imported by the sink.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import responses
from requests import PreparedRequest

from connectors.lti_ags.client import (
    ASSERTION_TYPE,
    MEDIA_LINEITEM,
    MEDIA_LINEITEMS,
    MEDIA_RESULTS,
    MEDIA_SCORE,
)

__all__ = ["ALL_SCOPES", "FakeAgsPlatform", "PostedScore"]

_AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPE_LINEITEM = _AGS + "lineitem"
SCOPE_LINEITEM_READONLY = _AGS + "lineitem.readonly"
SCOPE_RESULT_READONLY = _AGS + "result.readonly"
SCOPE_SCORE = _AGS + "score"
#: Every AGS scope (Moodle "grade sync and column management").
ALL_SCOPES = frozenset(
    {SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE}
)

_ACTIVITY = frozenset({"Initialized", "Started", "InProgress", "Submitted", "Completed"})
_GRADING = frozenset({"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"})

_Response = tuple[int, dict[str, str], str]


@dataclass(frozen=True)
class PostedScore:
    """A score the platform accepted."""

    lineitem_id: int
    body: dict[str, Any]


@dataclass
class _Failure:
    remaining: int
    status: int
    retry_after: float | None
    endpoint: str | None


@dataclass
class _Grade:
    body: dict[str, Any]
    timestamp: datetime


@dataclass
class FakeAgsPlatform:
    """A Moodle-like AGS platform in memory (see the module docstring).

    Attributes:
        tool_jwks: The tool's public JWKS, or a function returning it (read per request,
            so a key rotation is seen).
        base_url: The platform's origin.
        client_id: Tandem's client id.
        course_id: The course of the line item container.
        type_id: Moodle's tool type id (a query parameter of every service URL).
        page_size: Line items per page.
        scopes: The scopes the platform grants at most.
        audience: The assertion's expected ``aud`` (default: the token URL).
        members: Platform user ids that may be graded (``None``: anyone).
    """

    tool_jwks: Mapping[str, Any] | Callable[[], Mapping[str, Any]] = field(repr=False)
    base_url: str = "https://lms.example.com"
    client_id: str = "tandem-client"
    course_id: str = "2"
    type_id: str = "1"
    page_size: int = 2
    scopes: frozenset[str] = field(default=ALL_SCOPES, repr=False)
    audience: str | None = None
    members: set[str] | None = field(default=None, repr=False)
    lineitems: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    scores: list[PostedScore] = field(default_factory=list, repr=False)
    calls: list[str] = field(default_factory=list)
    assertions: list[dict[str, Any]] = field(default_factory=list, repr=False)
    tokens: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _grades: dict[tuple[int, str], _Grade] = field(default_factory=dict, repr=False)
    _failures: list[_Failure] = field(default_factory=list, repr=False)
    _jtis: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ URLs

    @property
    def token_url(self) -> str:
        """The OAuth 2 token endpoint."""
        return f"{self.base_url}/mod/lti/token.php"

    @property
    def lineitems_url(self) -> str:
        """The course's line item container (what a launch's AGS claim names)."""
        return f"{self._services}/lineitems?type_id={self.type_id}"

    def lineitem_url(self, item_id: int) -> str:
        """The URL (``id``) of one line item."""
        return f"{self._services}/lineitems/{item_id}/lineitem?type_id={self.type_id}"

    @property
    def _services(self) -> str:
        return f"{self.base_url}/mod/lti/services.php/{self.course_id}"

    # ------------------------------------------------------------------ setup

    def register(self, mock: responses.RequestsMock) -> None:
        """Serve the platform's endpoints on ``mock``."""
        base = re.escape(f"{self._services}/lineitems")
        routes: list[tuple[str, str, Callable[[PreparedRequest, re.Match[str]], _Response]]] = [
            ("POST", re.escape(self.token_url) + r"$", self._token),
            ("GET", base + r"(\?.*)?$", self._list),
            ("POST", base + r"(\?.*)?$", self._create),
            ("GET", base + r"/(\d+)/lineitem(\?.*)?$", self._get_item),
            ("POST", base + r"/(\d+)/lineitem/scores(\?.*)?$", self._score),
            ("GET", base + r"/(\d+)/lineitem/results(\?.*)?$", self._results),
        ]
        for method, pattern, handler in routes:
            regex = re.compile(pattern)
            mock.add_callback(method, regex, callback=self._wrap(regex, handler))

    def add_lineitem(
        self,
        *,
        label: str = "Grade",
        resource_id: str | None = None,
        score_maximum: float = 100,
        tag: str | None = None,
    ) -> dict[str, Any]:
        """Create a line item (as a teacher would); returns it."""
        with self._lock:
            return self._new_item(
                {
                    "label": label,
                    "scoreMaximum": score_maximum,
                    "resourceId": resource_id or "",
                    "tag": tag or "",
                }
            )

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Answer the next ``n`` calls (to ``endpoint``, or any) with ``status``.

        ``endpoint``: ``token``, ``lineitems``, ``lineitem_post``, ``lineitem``,
        ``scores`` or ``results``.
        """
        with self._lock:
            self._failures.append(_Failure(n, status, retry_after, endpoint))

    def recover(self) -> None:
        """End every injected failure: the platform answers normally again."""
        with self._lock:
            self._failures.clear()

    def revoke_tokens(self) -> None:
        """Forget every issued token (the next service call with one gets 401)."""
        with self._lock:
            self.tokens.clear()

    def scores_for(self, user_id: str) -> list[PostedScore]:
        """The accepted scores of one user, oldest first."""
        return [s for s in self.scores if s.body.get("userId") == user_id]

    # ------------------------------------------------------------------ plumbing

    def _wrap(
        self,
        regex: re.Pattern[str],
        handler: Callable[[PreparedRequest, re.Match[str]], _Response],
    ) -> Callable[[PreparedRequest], _Response]:
        def callback(request: PreparedRequest) -> _Response:
            match = regex.match(str(request.url))
            assert match is not None  # noqa: S101 (responses matched the same pattern)
            name = handler.__name__.lstrip("_")
            endpoint = {
                "token": "token",
                "list": "lineitems",
                "create": "lineitem_post",
                "get_item": "lineitem",
                "score": "scores",
                "results": "results",
            }[name]
            with self._lock:
                self.calls.append(endpoint)
                failure = self._take_failure(endpoint)
                if failure is not None:
                    headers = {"Content-Type": "text/plain"}
                    if failure.retry_after is not None:
                        headers["Retry-After"] = f"{failure.retry_after:g}"
                    return failure.status, headers, f"injected HTTP {failure.status}"
                return handler(request, match)

        return callback

    def _take_failure(self, endpoint: str) -> _Failure | None:
        for failure in self._failures:
            if failure.remaining > 0 and failure.endpoint in (None, endpoint):
                failure.remaining -= 1
                return failure
        return None

    def _check_bearer(self, request: PreparedRequest, *needed: str) -> _Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        granted = self.tokens.get(token)
        if granted is None:
            return _error(401, "invalid_token")
        if not granted & set(needed):
            return _error(403, "insufficient_scope")
        return None

    def _new_item(self, fields: dict[str, Any]) -> dict[str, Any]:
        item_id = max(self.lineitems, default=0) + 1
        item = {"id": self.lineitem_url(item_id), **fields}
        self.lineitems[item_id] = item
        return item

    # ------------------------------------------------------------------ endpoints

    def _token(self, request: PreparedRequest, _match: re.Match[str]) -> _Response:
        form = {k: v[0] for k, v in parse_qs(_text(request.body)).items()}
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _error(400, "invalid_request")
        assertion = form.get("client_assertion", "")
        try:
            kid = jwt.get_unverified_header(assertion).get("kid")
        except jwt.PyJWTError:
            return _error(400, "invalid_client")
        jwks = self.tool_jwks() if callable(self.tool_jwks) else self.tool_jwks
        keys = [k for k in jwks.get("keys", []) if k.get("kid") == kid]
        if not keys:
            return _error(400, "invalid_client")
        try:
            key = jwt.PyJWK.from_dict(dict(keys[0]))
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key=key,
                algorithms=["RS256"],
                audience=self.audience or self.token_url,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError:
            return _error(400, "invalid_client")
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return _error(400, "invalid_client")
        if claims["jti"] in self._jtis:
            return _error(400, "invalid_grant")
        self._jtis.add(claims["jti"])
        self.assertions.append(claims)
        granted = frozenset(form.get("scope", "").split()) & self.scopes
        if not granted:
            return _error(400, "invalid_scope")
        token = secrets.token_urlsafe(16)
        self.tokens[token] = granted
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": " ".join(sorted(granted)),
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _list(self, request: PreparedRequest, _match: re.Match[str]) -> _Response:
        refused = self._check_bearer(request, SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        if refused:
            return refused
        query = parse_qs(urlsplit(str(request.url)).query)
        wanted = query.get("resource_id", [None])[0]
        items = [
            item
            for _id, item in sorted(self.lineitems.items())
            if wanted is None or item.get("resourceId") == wanted
        ]
        token = query.get("Page", ["p0X"])[0]
        page = int(token[1:-1]) if re.fullmatch(r"p\d+X", token) else 0
        chunk = items[page * self.page_size : (page + 1) * self.page_size]
        headers = {"Content-Type": MEDIA_LINEITEMS}
        if (page + 1) * self.page_size < len(items):
            nxt = f"{self.lineitems_url}&Page=p{page + 1}X"
            if wanted is not None:
                nxt += f"&resource_id={wanted}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, headers, json.dumps(chunk)

    def _create(self, request: PreparedRequest, _match: re.Match[str]) -> _Response:
        refused = self._check_bearer(request, SCOPE_LINEITEM)
        if refused:
            return refused
        if request.headers.get("Content-Type") != MEDIA_LINEITEM:
            return _error(415, "unsupported media type")
        body = _json(request.body)
        if not isinstance(body, dict) or not body.get("label"):
            return _error(400, "label required")
        maximum = body.get("scoreMaximum")
        if not isinstance(maximum, int | float) or maximum <= 0:
            return _error(400, "scoreMaximum must be positive")
        item = self._new_item({k: v for k, v in body.items() if k != "id"})
        return 201, {"Content-Type": MEDIA_LINEITEM}, json.dumps(item)

    def _get_item(self, request: PreparedRequest, match: re.Match[str]) -> _Response:
        refused = self._check_bearer(request, SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        if refused:
            return refused
        item = self.lineitems.get(int(match.group(1)))
        if item is None:
            return _error(404, "no such line item")
        return 200, {"Content-Type": MEDIA_LINEITEM}, json.dumps(item)

    def _score(self, request: PreparedRequest, match: re.Match[str]) -> _Response:
        refused = self._check_bearer(request, SCOPE_SCORE)
        if refused:
            return refused
        item_id = int(match.group(1))
        if item_id not in self.lineitems:
            return _error(404, "no such line item")
        if request.headers.get("Content-Type") != MEDIA_SCORE:
            return _error(415, "unsupported media type")
        body = _json(request.body)
        problem = _score_problem(body)
        if problem:
            return _error(400, problem)
        user = str(body["userId"])
        if self.members is not None and user not in self.members:
            return _error(400, "user not gradable in this course")
        when = datetime.fromisoformat(str(body["timestamp"]).replace("Z", "+00:00"))
        stored = self._grades.get((item_id, user))
        if stored is not None and stored.timestamp >= when:
            return _error(409, "Refusing score with an earlier timestamp")
        self._grades[(item_id, user)] = _Grade(dict(body), when)
        self.scores.append(PostedScore(item_id, dict(body)))
        return 204, {}, ""

    def _results(self, request: PreparedRequest, match: re.Match[str]) -> _Response:
        refused = self._check_bearer(request, SCOPE_RESULT_READONLY)
        if refused:
            return refused
        item_id = int(match.group(1))
        if item_id not in self.lineitems:
            return _error(404, "no such line item")
        user = parse_qs(urlsplit(str(request.url)).query).get("user_id", [None])[0]
        out = []
        for (grade_item, grade_user), grade in sorted(self._grades.items()):
            if grade_item != item_id or (user is not None and grade_user != user):
                continue
            result: dict[str, Any] = {
                "id": f"{self.lineitem_url(item_id)}&user_id={grade_user}",
                "userId": grade_user,
                "timestamp": grade.timestamp.isoformat(),
            }
            if grade.body.get("gradingProgress") == "FullyGraded":
                result["resultScore"] = grade.body.get("scoreGiven")
                result["resultMaximum"] = grade.body.get("scoreMaximum")
                result["scoreOf"] = self.lineitem_url(item_id)
            out.append(result)
        return 200, {"Content-Type": MEDIA_RESULTS}, json.dumps(out)


def _text(body: Any) -> str:
    if body is None:
        return ""
    return body.decode("utf-8") if isinstance(body, bytes) else str(body)


def _json(body: Any) -> Any:
    try:
        return json.loads(_text(body))
    except ValueError:
        return None


def _error(status: int, message: str) -> _Response:
    return status, {"Content-Type": "application/json"}, json.dumps({"error": message})


def _score_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the score is not a JSON object"
    if not isinstance(body.get("userId"), str) or not body["userId"]:
        return "userId required"
    if body.get("activityProgress") not in _ACTIVITY:
        return "bad activityProgress"
    if body.get("gradingProgress") not in _GRADING:
        return "bad gradingProgress"
    given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
    if given is not None:
        if not isinstance(given, int | float) or given < 0:
            return "bad scoreGiven"
        if not isinstance(maximum, int | float) or maximum <= 0:
            return "scoreMaximum required with scoreGiven"
    timestamp = body.get("timestamp")
    try:
        when = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return "bad timestamp"
    if not isinstance(timestamp, str) or when.tzinfo is None:
        return "timestamp needs a time zone"
    return None
