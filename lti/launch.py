"""OIDC login and LTI launch (being built)."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("launch", __name__, url_prefix="/lti")
