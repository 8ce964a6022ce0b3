"""End to end: held sessions → progress and completion messages → the real outbox worker →
the AGS sink → a platform that is down for a while. Nothing is lost, nothing posted twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import responses
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.lti_ags import AgsSink
from connectors.lti_ags.client import clear_token_cache
from connectors.lti_ags.fake import FakeAgsPlatform
from plugin.models import OutboxMessage, OutboxStatus
from plugin.ports import Sink, TargetConfig
from plugin.services import completions
from plugin.services import lti_registrations as regs
from plugin.worker import Worker, WorkerStats
from tests.ags_support import BOX, USER, Recorder, joined_services, launched, link, register
from tests.plugin.tracking.conftest import T0
from tests.plugin.tracking.test_completions import hold, set_rule


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(days=60)

    def __call__(self) -> Any:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    clear_token_cache()
    yield
    clear_token_cache()


def outbox(session: Session) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
    )


def test_an_outage_loses_nothing_and_posts_nothing_twice(
    db_session: Session, world: Any, pair: Any
) -> None:
    regs.ensure_tool_key(db_session, BOX)
    platform = FakeAgsPlatform(tool_jwks=regs.published_jwks(db_session))
    reg = register(db_session, org_id=world.org.id, base_url=platform.base_url)
    launched(db_session, pair.mentee, reg)  # the mentor never launched: skipped
    item = platform.add_lineitem(label="My tandem")
    link(db_session, reg, world.program, lineitem_url=item["id"])

    # One session held, then the second: progress, then the completion.
    set_rule(db_session, world, min_sessions=2, min_minutes=45, require_post_assessment=False)
    hold(db_session, pair, 60)
    clock = Clock()
    first = clock.now - timedelta(days=2)
    second = clock.now - timedelta(days=1)
    completions.evaluate_program(db_session, world.admin, world.program.id, now=first)
    hold(db_session, pair, 60)
    completions.evaluate_program(db_session, world.admin, world.program.id, now=second)
    target = f"lms-{reg.id}"
    assert [
        (m.kind, m.target, m.payload["person_id"] if m.kind == "progress" else None)
        for m in outbox(db_session)
    ] == [
        ("progress", target, pair.mentor.id),
        ("progress", target, pair.mentee.id),
        ("completion", target, None),
        ("completion", target, None),
    ]

    services = joined_services(db_session.connection())
    waits = Recorder([])

    def ags_sink(config: TargetConfig) -> Sink:  # what the app's registry does
        return AgsSink(replace(config, services=services), sleep=waits)

    worker = Worker(services.session_factory, {"lti_ags": ags_sink}, worker_id="w1", clock=clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        platform.register(mock)

        # The platform is down: every call answers 503, retry in 2 minutes.
        platform.fail_next(1000, status=503, retry_after=120)
        stats = worker.run_once()
        assert stats == WorkerStats(claimed=4, delivered=2, retried=2)  # 2 mentor skips
        pending = [m for m in outbox(db_session) if m.status is OutboxStatus.PENDING]
        assert [m.kind for m in pending] == ["progress", "completion"]
        assert all(m.next_attempt_at >= clock.now + timedelta(seconds=120) for m in pending)
        assert all("HTTP 503" in (m.last_error or "") for m in pending)
        assert platform.scores == []

        # Not due yet: nothing happens.
        assert worker.run_once().claimed == 0

        # The platform is back; the retries are due.
        platform.recover()
        clock.now += timedelta(minutes=5)
        assert worker.run_once() == WorkerStats(claimed=2, delivered=2)
        assert {m.status for m in outbox(db_session)} == {OutboxStatus.DELIVERED}
        assert [
            (s.body["activityProgress"], s.body["scoreGiven"]) for s in platform.scores_for(USER)
        ] == [("InProgress", 50), ("Completed", 100)]

        # A worker that posted the completion but died before recording it: the lease
        # expires and another attempt is made — which finds the score and posts nothing.
        completion = next(
            m
            for m in outbox(db_session)
            if m.kind == "completion" and m.payload["person"]["id"] == pair.mentee.id
        )
        with services.session_factory() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == completion.id)
                .values(
                    status=OutboxStatus.DELIVERING,
                    claimed_by="lost-worker",
                    claimed_at=clock.now - timedelta(hours=1),
                )
            )
            s.commit()
        assert worker.run_once() == WorkerStats(claimed=1, delivered=1)
        assert platform.calls[-1] == "results"
        assert len(platform.scores_for(USER)) == 2
        assert [s.body["activityProgress"] for s in platform.scores].count("Completed") == 1
