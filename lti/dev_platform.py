"""The development LTI platform at /dev/platform (being built)."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("dev_platform", __name__, url_prefix="/dev/platform")
