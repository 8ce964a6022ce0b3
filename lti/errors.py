"""The one place where errors become HTTP responses.

JSON clients (``/api/…`` or ``Accept: application/json``) get ``{"error", "message"}``;
browsers get a small HTML page. Every 4xx leaves the database unchanged because the
request's session is rolled back for any status >= 400 (see :mod:`lti.db`).

Pages speak the request's language (:mod:`lti.i18n`): Tandem's own messages are translated
where they are raised; Werkzeug's stock descriptions ("The requested URL was not found on
the server…") are replaced on HTML pages by a translated sentence of the same meaning.
JSON answers keep Werkzeug's text, so API clients see stable messages.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from lti.i18n import _, error_text, lazy_gettext
from plugin.errors import PluginError

__all__ = ["init_app"]

log = logging.getLogger(__name__)

#: What a browser shows instead of Werkzeug's stock description of a status.
_STOCK_MESSAGES: dict[int, Any] = {
    400: lazy_gettext("Tandem could not process this request. Reload the page and try again."),
    401: lazy_gettext("Tandem does not know who you are in this browser."),
    403: lazy_gettext("You do not have access to this page."),
    404: lazy_gettext("There is no page at this address."),
    405: lazy_gettext("This page cannot be used this way."),
    409: lazy_gettext(
        "The data changed while your request was processed. Reload the page and try again."
    ),
    410: lazy_gettext("This page is no longer available."),
    413: lazy_gettext("What you sent is larger than Tandem accepts."),
    429: lazy_gettext("Too many requests in a short time. Wait a moment and try again."),
    500: lazy_gettext("Something went wrong on our side."),
    502: lazy_gettext("Another system Tandem relies on did not answer correctly."),
    503: lazy_gettext("Tandem is briefly unavailable, for example during maintenance."),
}


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


def _page_message(exc: HTTPException) -> str:
    """The message of an HTTP error for a person: its own, or a translated stock one."""
    stock = getattr(type(exc), "description", None)
    if exc.description and exc.description != stock:
        return str(exc.description)
    translated = _STOCK_MESSAGES.get(exc.code or 500)
    return str(translated) if translated is not None else str(exc.description or exc.name)


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(PluginError)
    def plugin_error(exc: PluginError) -> tuple[Response | str, int]:
        if _wants_json():
            return _respond(exc.status_code, type(exc).__name__, error_text(exc))
        # People read "403 – Forbidden", not the exception's class name.
        return _respond(
            exc.status_code, HTTP_STATUS_CODES.get(exc.status_code) or _("Error"), error_text(exc)
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int]:
        if _wants_json():
            return _respond(exc.code or 500, exc.name, exc.description or exc.name)
        return _respond(exc.code or 500, exc.name, _page_message(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(500, "Internal Server Error", _("Something went wrong on our side."))
