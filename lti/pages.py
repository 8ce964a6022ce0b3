"""The pages a launch opens (being built)."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("pages", __name__, url_prefix="/app")
