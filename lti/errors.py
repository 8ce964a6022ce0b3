"""The one place where errors become HTTP responses.

JSON clients (``/api/…`` or ``Accept: application/json``) get ``{"error", "message"}``;
browsers get a small HTML page. Every 4xx leaves the database unchanged because the
request's session is rolled back for any status >= 400 (see :mod:`lti.db`).
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from plugin.errors import PluginError

__all__ = ["init_app"]

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def _respond(status: int, error: str, message: str) -> tuple[Response | str, int]:
    if _wants_json():
        return Response(
            response=json.dumps({"error": error, "message": message}),
            status=status,
            mimetype="application/json",
        ), status
    return render_template("error.html", status=status, error=error, message=message), status


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(PluginError)
    def plugin_error(exc: PluginError) -> tuple[Response | str, int]:
        if _wants_json():
            return _respond(exc.status_code, type(exc).__name__, exc.message)
        # People read "403 – Forbidden", not the exception's class name.
        return _respond(
            exc.status_code, HTTP_STATUS_CODES.get(exc.status_code, "Error"), exc.message
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int]:
        return _respond(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(500, "Internal Server Error", "Something went wrong on our side.")
