"""Configuration: defaults, then ``TANDEM_*`` environment variables, then test overrides.

Only :func:`load_config` reads the environment, and only when the factory runs — never at
import time.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

__all__ = ["DEFAULTS", "DEV_SECRET_KEY", "load_config", "normalise_database_url"]

DEV_SECRET_KEY = "tandem-development-key-not-for-production"  # noqa: S105 (documented dev default)

DEFAULTS: dict[str, Any] = {
    # "development" or "production"; production refuses the dev secret and dev platform.
    "ENV": "development",
    # Used for Flask sessions, CSRF and to derive the key that encrypts secrets at rest.
    "SECRET_KEY": None,
    # None means: a SQLite file under the instance folder.
    "DATABASE_URL": None,
    "SQLALCHEMY_ECHO": False,
    # Public base URL of this deployment (LTI redirect URIs, JWKS …).
    "BASE_URL": "http://127.0.0.1:5000",
    "DEV_PLATFORM": False,
    # Reverse proxies in front of Tandem whose X-Forwarded-For/-Proto are trusted (ProxyFix);
    # 0 when Tandem is reached directly.
    "PROXY_COUNT": 1,
    # Read timeout (seconds) of every call to an LTI platform (JWKS, token, NRPS, DR).
    "PLATFORM_TIMEOUT": 5.0,
    # Clock skew (seconds) allowed on id_token exp/iat; at most 60 (Moodle tokens live 60 s).
    "LAUNCH_LEEWAY": 30,
    # Dynamic Registration from a platform whose openid_configuration URL is plain http;
    # None means: allowed in development, refused in production.
    "DYNREG_ALLOW_HTTP": None,
    # The organization whose demo data /dev/platform launches into.
    "DEV_PLATFORM_ORG": "demo",
    # Connector registry: connection kind -> "package.module:Factory" (built in
    # create_app). The built-in "successfactors" connector is always there unless mapped
    # to null; entries here add kinds or replace a built-in.
    "CONNECTORS": {},
    # Write-back sink registry: name -> "package.module:Factory" (built in create_app).
    # The built-in "journal" sink is always there unless mapped to null.
    "SINKS": {"journal": "connectors.journal:JournalSink"},
    # `tandem serve` runs the outbox worker in a background thread (embedded default).
    "WORKER_IN_PROCESS": True,
    # Messages claimed per transaction, idle poll interval and claim lease (seconds).
    "WORKER_BATCH": 20,
    "WORKER_POLL_SECONDS": 5.0,
    "WORKER_LEASE_SECONDS": 300,
    # The worker's periodic job, "package.module:function" called as fn(session, now=now)
    # and returning how many items it handled (alert scan + expired LTI store entries);
    # null switches it off.
    "WORKER_HOUSEKEEPING": "plugin.services.housekeeping:run",
    "WORKER_HOUSEKEEPING_SECONDS": 300,
    "JSON_SORT_KEYS": False,
}


def normalise_database_url(url: str) -> str:
    """Make ``postgres://`` and ``postgresql://`` URLs use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_config(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config``: defaults → ``TANDEM_*`` env → ``DATABASE_URL`` env → test overrides."""
    app.config.from_mapping(copy.deepcopy(DEFAULTS))
    if test_config is None:
        app.config.from_prefixed_env("TANDEM")
        if not app.config.get("DATABASE_URL") and os.environ.get("DATABASE_URL"):
            app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    else:
        app.config.from_mapping(test_config)

    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "tandem.db")
    app.config["DATABASE_URL"] = normalise_database_url(str(app.config["DATABASE_URL"]))

    production = app.config["ENV"] == "production"
    if not app.config.get("SECRET_KEY"):
        if production:
            raise RuntimeError("TANDEM_SECRET_KEY must be set when TANDEM_ENV=production")
        app.config["SECRET_KEY"] = DEV_SECRET_KEY
    if production and app.config.get("DEV_PLATFORM"):
        raise RuntimeError("TANDEM_DEV_PLATFORM is refused when TANDEM_ENV=production")
    app.config["DEV_PLATFORM"] = bool(app.config.get("DEV_PLATFORM"))
    if app.config.get("DYNREG_ALLOW_HTTP") is None:
        app.config["DYNREG_ALLOW_HTTP"] = not production
    leeway = float(app.config["LAUNCH_LEEWAY"])
    if not 0 <= leeway <= 60:
        raise RuntimeError("TANDEM_LAUNCH_LEEWAY must be between 0 and 60 seconds")
    app.config["LAUNCH_LEEWAY"] = leeway
