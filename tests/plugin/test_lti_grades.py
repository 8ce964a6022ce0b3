"""What an AGS score needs (plugin.services.lti_grades), and the AGS target of a platform."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.errors import ConnectorDataError, ValidationError
from plugin.models import (
    AuditEvent,
    LtiRegistration,
    Organization,
    Person,
    Program,
    ToolKey,
    WritebackTarget,
)
from plugin.ports import SinkConfigError
from plugin.services import lti_grades, writeback
from plugin.services import lti_registrations as regs
from tests.ags_support import (
    ALL_SCOPES,
    BOX,
    LINEITEM_READONLY,
    SYNC_ONLY,
    USER,
    WHEN,
    completion_payload,
    launched,
    link,
    progress_payload,
    register,
)

LMS = "https://lms.example.com/mod/lti/services.php/2"
ITEM = f"{LMS}/lineitems/7/lineitem?type_id=1"
ITEMS = f"{LMS}/lineitems?type_id=1"


@pytest.fixture
def key(db_session: Session) -> ToolKey:
    return regs.ensure_tool_key(db_session, BOX)


@pytest.fixture
def reg(db_session: Session, org: Organization) -> LtiRegistration:
    return register(db_session, org_id=org.id)


@pytest.fixture
def program(org: Organization, make_program: Any) -> Program:
    return make_program(org)


@pytest.fixture
def person(
    db_session: Session, org: Organization, make_person: Any, reg: LtiRegistration
) -> Person:
    p: Person = make_person(org)
    launched(db_session, p, reg)
    return p


def resolve(
    session: Session,
    org: Organization,
    payload: dict[str, Any],
    *,
    kind: str = "completion",
    settings: dict[str, Any] | None = None,
    reg: LtiRegistration | None = None,
) -> lti_grades.AgsDelivery | lti_grades.Skip:
    if settings is None:
        assert reg is not None
        settings = {"registration_id": reg.id}
    return lti_grades.resolve(
        session, BOX, org_id=org.id, kind=kind, settings=settings, payload=payload
    )


# --------------------------------------------------------------------------- the target


def test_every_registration_gets_its_ags_target(
    db_session: Session, org: Organization, reg: LtiRegistration
) -> None:
    target = writeback.get_target(db_session, org_id=org.id, name=f"lms-{reg.id}")
    assert (target.sink, target.kinds, target.settings, target.active) == (
        "lti_ags",
        ["completion", "progress"],
        {"registration_id": reg.id},
        True,
    )
    added = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "target.added")).all()
    assert [e.object_id for e in added] == [str(target.id)]


def test_ensure_ags_target_keeps_an_existing_target(
    db_session: Session, org: Organization, reg: LtiRegistration
) -> None:
    target = writeback.get_target(db_session, org_id=org.id, name=f"lms-{reg.id}")
    writeback.set_target_active(db_session, target, active=False, actor="admin")
    again = lti_grades.ensure_ags_target(
        db_session, org_id=org.id, registration_id=reg.id, actor="t"
    )
    assert again.id == target.id
    assert again.active is False
    assert len(db_session.scalars(select(WritebackTarget)).all()) == 1


def test_targets_accept_progress_only_when_asked(db_session: Session, org: Organization) -> None:
    default = writeback.add_target(db_session, org_id=org.id, name="j", sink="journal", actor="t")
    assert default.kinds == ["completion", "hours", "skill_gain"]
    named = writeback.add_target(
        db_session, org_id=org.id, name="p", sink="journal", kinds=["progress"], actor="t"
    )
    assert named.kinds == ["progress"]
    with pytest.raises(
        ValidationError, match="choose from completion, hours, skill_gain, progress"
    ):
        writeback.add_target(
            db_session, org_id=org.id, name="x", sink="journal", kinds=["grades"], actor="t"
        )
    (msg,) = writeback.enqueue(
        db_session, org_id=org.id, kind="progress", subject="p1:e1:h1", payload={}
    )
    assert msg.target == "p"


# --------------------------------------------------------------------------- resolve


def test_completion_posts_full_marks_to_the_my_tandem_line_item(
    db_session: Session,
    org: Organization,
    reg: LtiRegistration,
    program: Program,
    person: Person,
    key: ToolKey,
) -> None:
    link(db_session, reg, program, activity="program", lineitem_url=f"{LMS}/lineitems/1/lineitem")
    mine = link(db_session, reg, program, lineitem_url=ITEM, lineitems_url=ITEMS)
    found = resolve(db_session, org, completion_payload(program, person), reg=reg)
    assert isinstance(found, lti_grades.AgsDelivery)
    assert (found.link_id, found.lineitem_url, found.lineitems_url) == (mine.id, ITEM, ITEMS)
    assert (found.token_url, found.client_id, found.auth_audience) == (
        reg.auth_token_url,
        reg.client_id,
        None,
    )
    assert found.kid == key.kid
    assert found.private_key_pem == regs.current_private_key_pem(db_session, BOX)
    assert found.resource_id == f"tandem-program-{program.id}"
    assert found.label == "Tandem: Reverse Mentoring 2026"
    assert found.scopes == frozenset(ALL_SCOPES)
    assert found.can_create
    assert found.can_find
    assert found.can_read_results
    assert found.score.as_json() == {
        "userId": USER,
        "scoreGiven": 100,
        "scoreMaximum": 100,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": WHEN.isoformat(),
    }
    # Secrets and personal data stay out of reprs (they end up in logs).
    assert "PRIVATE" not in repr(found)
    assert USER not in repr(found)


def test_progress_posts_the_share_of_sessions_in_progress(
    db_session: Session,
    org: Organization,
    reg: LtiRegistration,
    program: Program,
    person: Person,
    key: ToolKey,
) -> None:
    link(db_session, reg, program, lineitem_url=ITEM)
    local = WHEN.astimezone(timezone(timedelta(hours=2)))
    payload = progress_payload(program, person, held=2, target=6, when=local)
    found = resolve(db_session, org, payload, kind="progress", reg=reg)
    assert isinstance(found, lti_grades.AgsDelivery)
    assert found.score.as_json() == {
        "userId": USER,
        "scoreGiven": 33,
        "scoreMaximum": 100,
        "activityProgress": "InProgress",
        "gradingProgress": "Pending",
        "timestamp": WHEN.isoformat(),  # the event's time, normalised to UTC
    }


def test_a_container_is_used_when_no_my_tandem_link_has_a_line_item(
    db_session: Session,
    org: Organization,
    reg: LtiRegistration,
    program: Program,
    person: Person,
    key: ToolKey,
) -> None:
    link(db_session, reg, program, activity="sessions", lineitem_url=f"{LMS}/lineitems/1/lineitem")
    other = link(db_session, reg, program, activity="dashboard", lineitems_url=ITEMS)
    mine = link(db_session, reg, program, lineitems_url=ITEMS, scopes=SYNC_ONLY)
    found = resolve(db_session, org, completion_payload(program, person), reg=reg)
    assert isinstance(found, lti_grades.AgsDelivery)
    assert (found.link_id, found.lineitem_url, found.lineitems_url) == (mine.id, None, ITEMS)
    assert found.can_find
    assert not found.can_create
    assert lti_grades.record_lineitem(db_session, mine.id, ITEM) is True
    assert lti_grades.record_lineitem(db_session, mine.id, "https://elsewhere") is False
    assert mine.lineitem_url == ITEM
    assert other.lineitem_url is None


def test_only_score_granted_asks_the_token_for_score(
    db_session: Session,
    org: Organization,
    reg: LtiRegistration,
    program: Program,
    person: Person,
    key: ToolKey,
) -> None:
    link(db_session, reg, program, lineitem_url=ITEM, scopes=[])
    found = resolve(db_session, org, completion_payload(program, person), reg=reg)
    assert isinstance(found, lti_grades.AgsDelivery)
    assert found.token_scopes == ("https://purl.imsglobal.org/spec/lti-ags/scope/score",)
    assert not found.can_find
    assert not found.can_create
    assert not found.can_read_results


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("never_launched", "person never launched from this platform"),
        ("no_link", "program not linked in this course"),
        ("link_without_ags", "the program's links in this platform offer no grade service"),
        ("other_program", "program not linked in this course"),
        ("hours", "the gradebook takes completion and progress, not hours"),
        ("program_gone", "the program no longer exists"),
    ],
)
def test_nothing_to_post_is_a_skip(
    db_session: Session,
    org: Organization,
    reg: LtiRegistration,
    program: Program,
    make_person: Any,
    make_program: Any,
    key: ToolKey,
    case: str,
    reason: str,
) -> None:
    person = make_person(org)
    kind = "completion"
    payload = completion_payload(program, person)
    if case != "never_launched":
        launched(db_session, person, reg)
    if case in ("never_launched", "hours", "program_gone"):
        link(db_session, reg, program, lineitem_url=ITEM)
    if case == "link_without_ags":
        link(db_session, reg, program, scopes=[])
    if case == "other_program":
        link(db_session, reg, make_program(org, name="Another"), lineitem_url=ITEM)
    if case == "hours":
        kind = "hours"
    if case == "program_gone":
        payload["program"]["id"] = 999_999
    assert resolve(db_session, org, payload, kind=kind, reg=reg) == lti_grades.Skip(reason)


def test_another_platforms_identity_does_not_count(
    db_session: Session,
    org: Organization,
    reg: LtiRegistration,
    program: Program,
    make_person: Any,
    key: ToolKey,
) -> None:
    other = register(db_session, org_id=org.id, client_id="other-client")
    person = make_person(org)
    launched(db_session, person, other)
    link(db_session, reg, program, lineitem_url=ITEM)
    assert resolve(
        db_session, org, completion_payload(program, person), reg=reg
    ) == lti_grades.Skip("person never launched from this platform")


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({}, "needs the setting registration_id"),
        ({"registration_id": "x"}, "needs the setting registration_id"),
        ({"registration_id": True}, "needs the setting registration_id"),
        ({"registration_id": 0}, "needs the setting registration_id"),
        ({"registration_id": 999_999}, "does not exist in this organization"),
    ],
)
def test_bad_settings_are_a_config_error(
    db_session: Session,
    org: Organization,
    program: Program,
    person: Person,
    settings: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(SinkConfigError, match=match):
        resolve(db_session, org, completion_payload(program, person), settings=settings)


def test_a_registration_of_another_organization_is_refused(
    db_session: Session,
    org: Organization,
    make_org: Any,
    program: Program,
    person: Person,
) -> None:
    theirs = register(db_session, org_id=make_org("other", "Other").id, client_id="c-2")
    with pytest.raises(SinkConfigError, match="does not exist in this organization"):
        resolve(db_session, org, completion_payload(program, person), reg=theirs)


def test_a_deactivated_registration_is_a_config_error(
    db_session: Session, org: Organization, reg: LtiRegistration, program: Program, person: Person
) -> None:
    regs.deactivate_platform(db_session, org_id=org.id, registration_id=reg.id, actor="t")
    with pytest.raises(SinkConfigError, match="is deactivated"):
        resolve(db_session, org, completion_payload(program, person), reg=reg)


def test_no_tool_key_or_an_undecryptable_one_is_a_config_error(
    db_session: Session, org: Organization, reg: LtiRegistration, program: Program, person: Person
) -> None:
    link(db_session, reg, program, lineitem_url=ITEM)
    payload = completion_payload(program, person)
    with pytest.raises(SinkConfigError, match="no signing key yet"):
        resolve(db_session, org, payload, reg=reg)
    regs.ensure_tool_key(db_session, SecretBox("another-secret"))
    with pytest.raises(SinkConfigError, match="cannot be decrypted"):
        resolve(db_session, org, payload, reg=reg)


def test_a_link_without_the_score_scope_is_a_config_error(
    db_session: Session,
    org: Organization,
    reg: LtiRegistration,
    program: Program,
    person: Person,
    key: ToolKey,
) -> None:
    link(db_session, reg, program, lineitem_url=ITEM, scopes=[LINEITEM_READONLY])
    with pytest.raises(SinkConfigError, match="score scope"):
        resolve(db_session, org, completion_payload(program, person), reg=reg)


@pytest.mark.parametrize(
    ("kind", "change", "match"),
    [
        ("completion", {"completed_at": "2026-08-24T09:30:00"}, "completed_at is not an ISO"),
        ("completion", {"completed_at": "yesterday"}, "completed_at is not an ISO"),
        ("completion", {"person": None}, "has no person_id"),
        ("progress", {"percent": 100}, "percent is not a whole number 0–99"),
        ("progress", {"percent": "50"}, "percent is not a whole number 0–99"),
        ("progress", {"at": None}, "at is not an ISO"),
        ("progress", {"program_id": None}, "has no program_id"),
    ],
)
def test_a_payload_without_what_a_score_needs_is_a_data_error(
    db_session: Session,
    org: Organization,
    reg: LtiRegistration,
    program: Program,
    person: Person,
    key: ToolKey,
    kind: str,
    change: dict[str, Any],
    match: str,
) -> None:
    link(db_session, reg, program, lineitem_url=ITEM)
    payload = (
        completion_payload(program, person)
        if kind == "completion"
        else progress_payload(program, person)
    )
    payload.update(change)
    with pytest.raises(ConnectorDataError, match=match) as caught:
        resolve(db_session, org, payload, kind=kind, reg=reg)
    assert person.email not in str(caught.value)
