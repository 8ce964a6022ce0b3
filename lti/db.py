"""Database wiring for the web app and CLI: one session per request, committed once.

The engine is created lazily on first use (the factory does no I/O). Views never
commit: a request's session is committed once after a successful response (status
< 400) and rolled back otherwise. CLI commands commit explicitly through
:func:`commit`.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["commit", "get_engine", "get_session", "init_app"]

_ENGINE = "tandem.engine"
_SESSIONMAKER = "tandem.sessionmaker"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_savepoint(conn: Any, _name: str) -> None:
    """Open a real transaction before a SAVEPOINT on SQLite.

    pysqlite starts transactions only before data changes; a SAVEPOINT issued outside a
    transaction starts one of its own, and releasing it commits everything — a later
    rollback (a refused request) would then miss those writes. Starting the transaction
    first keeps savepoints nested, while plain reads keep taking no lock.
    """
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def get_engine(app: Flask | None = None) -> Engine:
    """The app's engine, created on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    engine: Engine | None = app.extensions.get(_ENGINE)
    if engine is None:
        url: str = app.config["DATABASE_URL"]
        kwargs: dict[str, Any] = {"echo": bool(app.config.get("SQLALCHEMY_ECHO"))}
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:" and not url.startswith("sqlite://:"):
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        engine = create_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "savepoint", _sqlite_savepoint)
        app.extensions[_ENGINE] = engine
        app.extensions[_SESSIONMAKER] = sessionmaker(bind=engine, expire_on_commit=False)
    return engine


def get_session() -> Session:
    """The session of the current request or CLI command."""
    if "db_session" not in g:
        get_engine()
        g.db_session = current_app.extensions[_SESSIONMAKER]()
    session: Session = g.db_session
    return session


def commit() -> None:
    """Commit the current session (CLI commands call this once, at the end)."""
    if "db_session" in g:
        g.db_session.commit()


def _commit_on_success(response: Response) -> Response:
    session: Session | None = g.get("db_session")
    if session is not None:
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    return response


def _close(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()


def init_app(app: Flask) -> None:
    """Register the per-request session lifecycle."""
    app.after_request(_commit_on_success)
    app.teardown_appcontext(_close)
