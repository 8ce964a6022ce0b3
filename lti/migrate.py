"""Run Alembic migrations for the app's database (used by ``tandem db`` and tests)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import Flask

from lti.db import get_engine

__all__ = ["alembic_config", "downgrade", "upgrade"]

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` using the repository's ``migrations/`` folder."""
    cfg = Config(str(ROOT / "alembic.ini")) if (ROOT / "alembic.ini").exists() else Config()
    cfg.set_main_option(
        "script_location", os.environ.get("TANDEM_MIGRATIONS", str(ROOT / "migrations"))
    )
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _run(app: Flask, fn: str, revision: str) -> None:
    engine = get_engine(app)
    cfg = alembic_config(app.config["DATABASE_URL"])
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        getattr(command, fn)(cfg, revision)


def upgrade(app: Flask, revision: str = "head") -> None:
    """Upgrade the app's database to ``revision``."""
    _run(app, "upgrade", revision)


def downgrade(app: Flask, revision: str = "-1") -> None:
    """Downgrade the app's database to ``revision``."""
    _run(app, "downgrade", revision)
