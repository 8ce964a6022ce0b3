"""Alembic environment: one metadata (plugin.db.metadata), SQLite and PostgreSQL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine, pool

import plugin.models  # noqa: F401  (registers every table on the metadata)
from plugin.db import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    env = os.environ.get("DATABASE_URL") or os.environ.get("TANDEM_DATABASE_URL")
    if env:
        return env
    raise RuntimeError("no database URL: set DATABASE_URL or use `tandem db upgrade`")


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
        # SQLite cannot ALTER most things; batch mode recreates tables there.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
