"""Out-of-process control of the fake (JSON, no auth; never part of SuccessFactors).

* ``GET /_fake/learning-events`` — ``{"value": [...]}`` every accepted external learning event
* ``GET /_fake/rated-skills`` — ``{"value": [...]}`` the ``RatedSkillMapping`` rows
* ``POST /_fake/touch`` ``{"share": 0.01, "seed": 1}`` — ``{"userIds": [...]}`` modified users
* ``GET|POST|DELETE /_fake/faults`` — list, add (``{"kind": "response" (default) |
  "upsert_row_error" | "learning_outage" | "metadata_generating" | "maintenance", …the
  keyword arguments of the matching :class:`~fakes.successfactors.faults.Faults` method}``),
  clear
* ``POST /_fake/users`` — ``{"add": user | [users]}``, ``{"update": {"userId": …, fields}}``,
  ``{"remove": userId}``, or a bare user dict (added, or updated when it exists)
* ``GET /_fake/users/<userId>`` — the stored user
* ``POST /_fake/skills`` — ``{"skills": [...], "ratings": [...]}`` (dataset format)
* ``POST /_fake/learning-history`` — ``{"studentID": …, …entry}``
* ``POST /_fake/settings`` — switches of :class:`~fakes.successfactors.tenant.FakeTenant`
* ``POST /_fake/expire-tokens`` — expire every token
* ``GET|DELETE /_fake/stats`` — request counts by path (and the last requests) / reset
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from fakes.successfactors.responses import json_response
from fakes.successfactors.tenant import FakeTenant

__all__ = ["SETTINGS", "register_admin"]

#: Tenant attributes ``POST /_fake/settings`` may change.
SETTINGS = frozenset(
    {
        "basic_auth_enabled",
        "enforce_filterable",
        "duplicate_rows_across_pages",
        "duplicate_rows",
        "learning_rate_limit_per_minute",
        "learning_require_time_zone",
        "empty_history_status",
        "assertion_clock_skew",
        "token_lifetime",
        "learning_token_lifetime",
        "base_url",
    }
)


class _AdminError(Exception):
    pass


def _body() -> Any:
    payload = request.get_json(silent=True)
    if payload is None:
        raise _AdminError("a JSON body is required")
    return payload


def register_admin(app: Flask, tenant: FakeTenant) -> None:
    """Mount the ``/_fake/…`` endpoints on ``app``."""

    @app.errorhandler(_AdminError)
    def _admin_error(error: _AdminError) -> Response:
        return json_response({"error": str(error)}, 400)

    def guarded(func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except (ValueError, KeyError, TypeError) as exc:
                raise _AdminError(f"{type(exc).__name__}: {exc}") from exc

        wrapper.__name__ = func.__name__
        return wrapper

    @app.get("/_fake/learning-events")
    def fake_learning_events() -> Response:
        return json_response({"value": tenant.learning_events})

    @app.get("/_fake/rated-skills")
    def fake_rated_skills() -> Response:
        return json_response({"value": list(tenant.rated_skill_mappings.values())})

    @app.post("/_fake/touch")
    @guarded
    def fake_touch() -> Response:
        body = request.get_json(silent=True) or {}
        ids = tenant.touch_random(share=float(body.get("share", 0.01)), seed=body.get("seed"))
        return json_response({"userIds": ids})

    @app.get("/_fake/faults")
    def fake_faults() -> Response:
        return json_response({"value": tenant.faults.pending})

    @app.delete("/_fake/faults")
    def fake_faults_clear() -> Response:
        tenant.faults.clear()
        return json_response({"ok": True})

    @app.post("/_fake/faults")
    @guarded
    def fake_faults_add() -> Response:
        body = _body()
        items = body if isinstance(body, list) else [body]
        for item in items:
            spec = dict(item)
            kind = spec.pop("kind", "response")
            if kind == "response":
                tenant.faults.add(**spec)
            elif kind == "upsert_row_error":
                tenant.faults.upsert_row_error(**spec)
            elif kind == "learning_outage":
                tenant.faults.learning_outage(**spec)
            elif kind == "metadata_generating":
                tenant.faults.metadata_generating(**spec)
            elif kind == "maintenance":
                tenant.faults.maintenance(**spec)
            else:
                raise _AdminError(f"unknown fault kind {kind!r}")
        return json_response({"ok": True, "pending": tenant.faults.pending})

    @app.post("/_fake/users")
    @guarded
    def fake_users() -> Response:
        body = _body()
        touched: list[str] = []
        if isinstance(body, dict) and ({"add", "update", "remove"} & body.keys()):
            added = body.get("add")
            for user in added if isinstance(added, list) else [added] if added else []:
                touched.append(tenant.add_user(user))
            updated = body.get("update")
            for change in updated if isinstance(updated, list) else [updated] if updated else []:
                fields = dict(change)
                user_id = str(fields.pop("userId"))
                tenant.update_user(user_id, **fields)
                touched.append(user_id)
            removed = body.get("remove")
            for user_id in removed if isinstance(removed, list) else [removed] if removed else []:
                tenant.remove_user(str(user_id))
                touched.append(str(user_id))
        else:
            for user in body if isinstance(body, list) else [body]:
                fields = dict(user)
                user_id = str(fields.get("userId"))
                if tenant.user_row(user_id) is None:
                    touched.append(tenant.add_user(fields))
                else:
                    fields.pop("userId")
                    tenant.update_user(user_id, **fields)
                    touched.append(user_id)
        return json_response({"ok": True, "userIds": touched})

    @app.get("/_fake/users/<user_id>")
    def fake_user(user_id: str) -> Response:
        user = tenant.get_user(user_id)
        if user is None:
            return json_response({"error": f"no user {user_id}"}, 404)
        return json_response(user)

    @app.post("/_fake/skills")
    @guarded
    def fake_skills() -> Response:
        body = _body()
        tenant.load_dataset(
            {"users": [], "skills": body.get("skills", []), "ratings": body.get("ratings", [])}
        )
        return json_response({"ok": True})

    @app.post("/_fake/learning-history")
    @guarded
    def fake_learning_history() -> Response:
        entry = dict(_body())
        tenant.add_learning_history(str(entry.pop("studentID")), **entry)
        return json_response({"ok": True})

    @app.post("/_fake/settings")
    @guarded
    def fake_settings() -> Response:
        body = _body()
        unknown = set(body) - SETTINGS
        if unknown:
            raise _AdminError(f"unknown settings: {sorted(unknown)}")
        with tenant.lock:
            for name, value in body.items():
                setattr(tenant, name, value.rstrip("/") if name == "base_url" and value else value)
            tenant.version += 1
        return json_response({name: getattr(tenant, name) for name in sorted(SETTINGS)})

    @app.post("/_fake/expire-tokens")
    def fake_expire_tokens() -> Response:
        return json_response({"expired": tenant.expire_tokens()})

    @app.get("/_fake/stats")
    def fake_stats() -> Response:
        return json_response(tenant.stats())

    @app.delete("/_fake/stats")
    def fake_stats_reset() -> Response:
        tenant.reset_stats()
        return json_response({"ok": True})
