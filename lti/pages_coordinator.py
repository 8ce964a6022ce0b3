"""Coordinator pages: programs, enrollments, matching, follow-up, report, write-back."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("coordinator", __name__, url_prefix="/app/coordinate")
