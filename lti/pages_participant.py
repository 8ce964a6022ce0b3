"""Participant pages: enrol, sessions, feedback, goals, assessments, progress."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("participant", __name__, url_prefix="/app")
