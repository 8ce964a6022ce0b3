"""LTI Dynamic Registration 1.0 (being built)."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("dynreg", __name__, url_prefix="/lti")
