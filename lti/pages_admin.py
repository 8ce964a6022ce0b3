"""HR admin pages (organization level): connections and syncs, LTI registrations, keys."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/app/admin")
