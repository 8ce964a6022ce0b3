"""Tandem's web app and composition root (LTI 1.3 tool, pages, CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

__all__ = ["create_app"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app. Only builds: no I/O, no migrations, no network.

    Args:
        test_config: Overrides applied last (tests); when given, the environment is not read.
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    from lti import (
        cli,
        db,
        dev_platform,
        dynreg,
        errors,
        i18n,
        launch,
        lti_views,
        pages,
        pages_admin,
        pages_coordinator,
        pages_participant,
        roster,
        sinks,
        views,
        web_session,
    )
    from lti.config import load_config

    app = Flask(__name__, instance_relative_config=True)
    load_config(app, test_config)
    proxies = int(app.config["PROXY_COUNT"])
    if proxies > 0:
        # Behind a TLS-terminating proxy: trust its X-Forwarded-For/-Proto so the launch
        # cookies are Secure; SameSite=None; Partitioned (lti.md §1.1 "TLS proxy").
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    db.init_app(app)
    app.extensions[sinks.EXTENSION] = sinks.build_sink_registry(app)
    errors.init_app(app)
    i18n.init_app(app)
    web_session.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(lti_views.bp)
    app.register_blueprint(launch.bp)
    app.register_blueprint(dynreg.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(pages_participant.bp)
    app.register_blueprint(pages_coordinator.bp)
    app.register_blueprint(pages_admin.bp)
    app.register_blueprint(roster.bp)
    if app.config["DEV_PLATFORM"]:
        app.register_blueprint(dev_platform.bp)
        # The demo's SuccessFactors fake at /dev/successfactors (loaded lazily, by dotted path).
        from lti import demo_hris

        demo_hris.mount(app)
    cli.init_app(app)

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        return response

    return app
