"""The baseline of ``bench/lti_launch.py``: a minimal pylti1p3 2.0.0 Flask tool.

What a developer gets by following pylti1p3's Flask documentation and nothing more:

* ``ToolConfJsonFile`` read from a JSON file (path in ``LTI_BASELINE_CONFIG``), built once
  per worker process;
* pylti1p3's default storage: state in the ``lti1p3-state-*`` cookie, nonce and launch data
  in Flask's signed-cookie session;
* ``GET|POST /lti/login`` → ``FlaskOIDCLogin(...).redirect(target_link_uri)`` (302);
* ``POST /lti/launch`` → ``FlaskMessageLaunch(...).get_launch_data()`` (state, JWT
  signature by kid, iss/aud, exp/iat, nonce, deployment, message validators), then a small
  HTML page (200).

It does none of Tandem's work (no database, no person linking, no single-use nonce, no
session of its own), so it bounds what the library itself costs per launch.

Run::

    LTI_BASELINE_CONFIG=/tmp/x/tool.json gunicorn -w 4 --chdir bench \
        'lti_baseline_tool:create_app()'
"""

from __future__ import annotations

import html
import os
import secrets

from flask import Flask, request
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.exception import LtiException
from pylti1p3.tool_config import ToolConfJsonFile

CONFIG_ENV = "LTI_BASELINE_CONFIG"


def create_app(config_path: str | None = None) -> Flask:
    """The baseline tool reading its registrations from ``config_path`` (or the env)."""
    path = config_path or os.environ[CONFIG_ENV]
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("LTI_BASELINE_SECRET") or secrets.token_hex(32)
    tool_conf = ToolConfJsonFile(path)

    @app.route("/lti/login", methods=["GET", "POST"])
    def login():  # type: ignore[no-untyped-def]
        target = request.values.get("target_link_uri")
        if not target:
            return "missing target_link_uri", 400
        oidc = FlaskOIDCLogin(FlaskRequest(), tool_conf)
        return oidc.redirect(target)

    @app.route("/lti/launch", methods=["POST"])
    def launch():  # type: ignore[no-untyped-def]
        message_launch = FlaskMessageLaunch(FlaskRequest(), tool_conf)
        try:
            data = message_launch.get_launch_data()
        except LtiException as exc:
            return f"launch refused: {html.escape(str(exc))}", 400
        name = html.escape(str(data.get("name") or data.get("sub") or "someone"))
        return (
            "<!doctype html><title>Launched</title>"
            f"<p>Hello {name}, launch {message_launch.get_launch_id()} is valid.</p>"
        )

    return app
