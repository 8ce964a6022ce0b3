"""A real Tandem server in a thread, for tests that need HTTP between tool and platform.

The tool fetches the development platform's JWKS over HTTP, so the full LTI flow needs a
listening server: :func:`serve` binds ``127.0.0.1`` on a free port, sets ``BASE_URL`` to
it (the platform's issuer and the tool's redirect URI derive from it) and serves the app
with werkzeug's threaded server until the ``with`` block ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from lti import create_app
from lti.db import get_engine, get_session
from plugin.access import Actor
from plugin.demo import seed_demo
from plugin.models import Enrollment, Person, Program
from plugin.services.coordinators import add_coordinator, coordinator_ids
from plugin.simulate import simulate_program

SECRET = "dev-platform-test-secret"


def dev_app(database_url: str, **config: Any) -> Flask:
    """An app with the development platform switched on."""
    settings: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "DEV_PLATFORM": True,
        "PROXY_COUNT": 0,
        "WORKER_IN_PROCESS": False,
    }
    settings.update(config)
    return create_app(settings)


def seed(app: Flask, *, people: int = 80, months: int = 2) -> dict[str, int]:
    """Seed the demo organization and play its program forward so it has tandems.

    A small company has no HR department, so the seed names no coordinator: then the
    first active person who is not enrolled becomes one.
    """
    with app.app_context():
        session = get_session()
        summary = seed_demo(session, org_slug="demo", people=people, seed=7)
        program = session.get(Program, summary.program_id)
        assert program is not None
        if not coordinator_ids(session, program):
            enrolled = select(Enrollment.person_id).where(Enrollment.program_id == program.id)
            person_id = session.scalar(
                select(Person.id)
                .where(
                    Person.org_id == summary.org_id,
                    Person.active.is_(True),
                    Person.id.not_in(enrolled),
                )
                .order_by(Person.id)
            )
            assert person_id is not None
            add_coordinator(
                session, Actor.admin(summary.org_id, "test"), program, person_id=person_id
            )
        session.commit()
        sim = simulate_program(
            session,
            org_id=summary.org_id,
            program_id=summary.program_id,
            months=months,
            seed=7,
        )
        session.commit()
        return {"org_id": summary.org_id, "program_id": summary.program_id, **sim.tandems}


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base
    thread = threading.Thread(target=server.serve_forever, name="tandem-live-server", daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        get_engine(app).dispose()
