"""Migrations: one head; upgrade → downgrade → upgrade; models and migrations agree."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from lti.migrate import alembic_config
from plugin.db import metadata
from tests.conftest import fresh_database, make_engine


def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def _run(engine, url, fn, revision):  # type: ignore[no-untyped-def]
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, fn)(cfg, revision)


def test_up_down_up_and_no_drift(tmp_path: Path) -> None:
    with fresh_database(tmp_path, "migrations") as url:
        engine = make_engine(url)
        try:
            _run(engine, url, "upgrade", "head")
            tables = set(inspect(engine).get_table_names())
            assert set(metadata.tables) <= tables

            _run(engine, url, "downgrade", "base")
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

            _run(engine, url, "upgrade", "head")
            with engine.connect() as conn:
                ctx = MigrationContext.configure(
                    conn, opts={"compare_type": True, "compare_server_default": True}
                )
                diff = compare_metadata(ctx, metadata)
            assert diff == [], f"models and migrations differ: {diff}"
        finally:
            engine.dispose()
