"""Pages that need no launch: the start page and the health check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from sqlalchemy import text

from lti.db import get_session

__all__ = ["bp"]

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    """Say what Tandem is and where its LTI endpoints are."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return render_template("index.html", base=base, dev_platform=current_app.config["DEV_PLATFORM"])


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    """Liveness and database reachability, for load balancers."""
    try:
        get_session().execute(text("SELECT 1"))
    except Exception as exc:  # health checks report, never raise
        return {"status": "unavailable", "database": type(exc).__name__}, 503
    return {"status": "ok", "database": "ok"}, 200
