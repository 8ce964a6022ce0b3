"""A tandem's private notes reach its members and nobody else, through any read path.

Every read function of :mod:`plugin.services.sessions` and :mod:`plugin.services.alerts`
is called as every kind of outsider; each either refuses or returns structures whose
``repr`` does not contain the secret text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import NotFound, PermissionDenied, PluginError, ValidationError
from plugin.models import AlertKind, MentoringSession
from plugin.services import alerts, organizations, sessions
from tests.plugin.tracking.conftest import T0

NOTES = "SECRET-NOTES-the senior struggles with the new CRM"
REASON = "SECRET-REASON-my divorce hearing"
COMMENT = "SECRET-COMMENT-I feel belittled"
SECRETS = (NOTES, REASON, COMMENT)
AT = T0 + timedelta(days=7)
LATER = T0 + timedelta(days=60)


@dataclass
class Scene:
    pair: Any
    held_id: int
    cancelled_id: int


@pytest.fixture
def scene(db_session: Session, world: Any, pair: Any) -> Scene:
    held = sessions.plan_session(
        db_session, pair.mentor_actor, pair.tandem.id, scheduled_at=AT, now=T0
    )
    sessions.hold_session(db_session, pair.mentor_actor, held.id, minutes=60, now=AT)
    sessions.set_notes(db_session, pair.mentee_actor, held.id, text=NOTES, now=AT)
    sessions.give_feedback(
        db_session, pair.mentor_actor, held.id, rating=1, comment=COMMENT, safety_pulse=1, now=AT
    )
    cancelled = sessions.plan_session(
        db_session, pair.mentor_actor, pair.tandem.id, scheduled_at=AT + timedelta(days=7), now=T0
    )
    sessions.cancel_session(db_session, pair.mentee_actor, cancelled.id, reason=REASON, now=AT)
    alerts.scan_program(db_session, world.program.id, now=LATER)  # adds a stalled alert
    return Scene(pair, held.id, cancelled.id)


def read_paths(db: Session, scene: Scene, program_id: int) -> dict[str, Callable[[Actor], Any]]:
    tandem_id = scene.pair.tandem.id

    def every_alert(actor: Actor) -> Any:
        found = alerts.list_alerts(db, actor, status="all")
        return [
            (a.details, a.note, alerts.alert_message(a), alerts.alert_message(a, "de"))
            for a in found
        ] + [alerts.get_alert(db, actor, a.id).details for a in found]

    return {
        "get_notes(held)": lambda a: sessions.get_notes(db, a, scene.held_id),
        "get_notes(cancelled)": lambda a: sessions.get_notes(db, a, scene.cancelled_id),
        "list_sessions": lambda a: sessions.list_sessions(db, a, tandem_id),
        "session_view(held)": lambda a: sessions.session_view(db, a, scene.held_id),
        "session_view(cancelled)": lambda a: sessions.session_view(db, a, scene.cancelled_id),
        "list_feedback": lambda a: sessions.list_feedback(db, a, scene.held_id),
        "list_alerts": every_alert,
        "list_alerts(program)": lambda a: alerts.list_alerts(db, a, program_id=program_id),
        "session_counts": lambda a: sessions.session_counts(db, [tandem_id]),
    }


def leaked(value: Any) -> list[str]:
    text = repr(value)
    return [s for s in SECRETS if s in text]


@pytest.fixture
def strangers(
    db_session: Session, world: Any, make_pair: Any, make_person: Any
) -> dict[str, Actor]:
    other_pair = make_pair()
    other_org = organizations.create_organization(db_session, slug="rival", name="R", actor="t")
    rival = make_person(other_org)
    return {
        "other tandem's junior": other_pair.mentor_actor,
        "other tandem's senior": other_pair.mentee_actor,
        "outsider participant": world.outsider_actor,
        "coordinator": world.coordinator_actor,
        "admin": world.admin,
        "person of another organization": Actor.participant(other_org.id, rival.id),
        "admin of another organization": Actor.admin(other_org.id, "cli:rival"),
        "coordinator-role actor of another organization": Actor.coordinator(other_org.id, rival.id),
    }


def test_no_read_path_shows_the_secrets_to_anyone_outside_the_tandem(
    db_session: Session, world: Any, scene: Scene, strangers: dict[str, Actor]
) -> None:
    paths = read_paths(db_session, scene, world.program.id)
    checked = 0
    for who, actor in strangers.items():
        for name, read in paths.items():
            try:
                value = read(actor)
            except PluginError:
                continue
            assert leaked(value) == [], f"{name} leaks to {who}"
            checked += 1
    # Coordinators and admins do get the redacted views, alerts included.
    assert checked >= 2 * 7
    kinds = {a.kind for a in alerts.list_alerts(db_session, world.coordinator_actor)}
    assert kinds == {AlertKind.STALLED, AlertKind.LOW_SAFETY}


@pytest.mark.parametrize(
    "who",
    [
        "other tandem's junior",
        "other tandem's senior",
        "outsider participant",
        "coordinator",
        "admin",
        "person of another organization",
        "admin of another organization",
    ],
)
def test_get_notes_is_refused_to_everyone_outside_the_tandem(
    db_session: Session, scene: Scene, strangers: dict[str, Actor], who: str
) -> None:
    with pytest.raises((PermissionDenied, NotFound)):
        sessions.get_notes(db_session, strangers[who], scene.held_id)


def test_another_organization_is_told_not_found(
    db_session: Session, scene: Scene, strangers: dict[str, Actor]
) -> None:
    with pytest.raises(NotFound, match=f"session {scene.held_id} not found"):
        sessions.get_notes(db_session, strangers["person of another organization"], scene.held_id)
    with pytest.raises(NotFound, match=f"tandem {scene.pair.tandem.id} not found"):
        sessions.list_sessions(
            db_session, strangers["admin of another organization"], scene.pair.tandem.id
        )


def test_outsiders_cannot_write_notes_either(
    db_session: Session, scene: Scene, strangers: dict[str, Actor]
) -> None:
    for actor in strangers.values():
        with pytest.raises((PermissionDenied, NotFound)):
            sessions.set_notes(db_session, actor, scene.held_id, text="overwritten", now=LATER)
    assert sessions.get_notes(db_session, scene.pair.mentor_actor, scene.held_id) == NOTES


def test_a_member_acting_as_coordinator_gets_no_notes(db_session: Session, scene: Scene) -> None:
    member = scene.pair.mentee
    with pytest.raises(PermissionDenied, match="coordinator or admin"):
        sessions.get_notes(db_session, Actor.coordinator(member.org_id, member.id), scene.held_id)


def test_both_members_read_and_write_the_notes(db_session: Session, scene: Scene) -> None:
    pair = scene.pair
    assert sessions.get_notes(db_session, pair.mentor_actor, scene.held_id) == NOTES
    assert sessions.get_notes(db_session, pair.mentee_actor, scene.held_id) == NOTES
    [view] = [
        v
        for v in sessions.list_sessions(db_session, pair.mentor_actor, pair.tandem.id)
        if v["id"] == scene.held_id
    ]
    assert view["notes"] == NOTES


def test_notes_are_cleared_by_an_empty_text(db_session: Session, scene: Scene) -> None:
    sessions.set_notes(db_session, scene.pair.mentor_actor, scene.held_id, text="", now=LATER)
    assert sessions.get_notes(db_session, scene.pair.mentee_actor, scene.held_id) is None


def test_notes_longer_than_the_limit_are_refused(db_session: Session, scene: Scene) -> None:
    with pytest.raises(ValidationError, match="at most 20000") as err:
        sessions.set_notes(
            db_session, scene.pair.mentor_actor, scene.held_id, text="n" * 20_001, now=LATER
        )
    assert err.value.field == "notes"
    assert sessions.get_notes(db_session, scene.pair.mentor_actor, scene.held_id) == NOTES


def test_set_notes_stamps_the_session(db_session: Session, scene: Scene) -> None:
    sessions.set_notes(db_session, scene.pair.mentor_actor, scene.held_id, text="new", now=LATER)
    row = db_session.get(MentoringSession, scene.held_id)
    assert row is not None
    assert row.updated_at == LATER


def test_the_senior_never_sees_what_the_junior_said_about_safety(
    db_session: Session, world: Any, scene: Scene
) -> None:
    senior = scene.pair.mentee_actor
    for name, read in read_paths(db_session, scene, world.program.id).items():
        try:
            value = read(senior)
        except PluginError:
            continue
        assert COMMENT not in repr(value), name
        assert "'safety_pulse': 1" not in repr(value), name
