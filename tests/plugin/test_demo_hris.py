"""The demo HRIS's data: linking the demo people to a connection and reading them back."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.demo import IDENTITY_SOURCE, MIN_PEOPLE, seed_demo
from plugin.models import (
    Organization,
    Person,
    PersonIdentity,
    PersonSkill,
    SkillIdentity,
    SkillSource,
)
from plugin.services import demo_hris
from plugin.services.organizations import get_organization

SOURCE = "successfactors:99"


def identities(session: Session, model: type, source: str) -> int:
    return (
        session.scalar(select(func.count()).select_from(model).where(model.source == source)) or 0
    )  # type: ignore[attr-defined]


def test_linking_copies_the_demo_identities_once(db_session: Session) -> None:
    seed_demo(db_session, org_slug="demo", people=MIN_PEOPLE, seed=3)
    org: Organization = get_organization(db_session, "demo")
    assert demo_hris.link_demo_identities(db_session, org_id=org.id, source=SOURCE) == MIN_PEOPLE
    assert identities(db_session, PersonIdentity, SOURCE) == MIN_PEOPLE
    skills = identities(db_session, SkillIdentity, IDENTITY_SOURCE)
    assert skills > 0
    assert identities(db_session, SkillIdentity, SOURCE) == skills
    demo_ids = dict(
        db_session.execute(
            select(PersonIdentity.person_id, PersonIdentity.external_id).where(
                PersonIdentity.source == IDENTITY_SOURCE
            )
        ).all()
    )
    linked = dict(
        db_session.execute(
            select(PersonIdentity.person_id, PersonIdentity.external_id).where(
                PersonIdentity.source == SOURCE
            )
        ).all()
    )
    assert linked == demo_ids
    # Again: nothing new.
    assert demo_hris.link_demo_identities(db_session, org_id=org.id, source=SOURCE) == 0
    assert identities(db_session, PersonIdentity, SOURCE) == MIN_PEOPLE
    assert identities(db_session, SkillIdentity, SOURCE) == skills


def test_the_snapshot_holds_linked_people_by_their_identities(db_session: Session) -> None:
    seed_demo(db_session, org_slug="demo", people=MIN_PEOPLE, seed=3)
    org = get_organization(db_session, "demo")
    empty = demo_hris.hris_snapshot(db_session, org_id=org.id, source=SOURCE)
    assert (empty.people, empty.skills, empty.ratings) == ([], [], [])

    demo_hris.link_demo_identities(db_session, org_id=org.id, source=SOURCE)
    rated = db_session.scalars(
        select(PersonSkill.person_id).where(PersonSkill.source == SkillSource.HRIS)
    ).first()
    assert rated is not None
    gone = db_session.get(Person, rated)
    assert gone is not None
    gone.erased_at = gone.updated_at
    db_session.flush()

    snapshot = demo_hris.hris_snapshot(db_session, org_id=org.id, source=SOURCE)
    external = dict(
        db_session.execute(
            select(PersonIdentity.person_id, PersonIdentity.external_id).where(
                PersonIdentity.source == SOURCE
            )
        ).all()
    )
    people = db_session.scalars(
        select(Person)
        .where(Person.org_id == org.id, Person.erased_at.is_(None))
        .order_by(Person.id)
    ).all()
    assert [p.external_id for p in snapshot.people] == [external[p.id] for p in people]
    by_id = {p.external_id: p for p in snapshot.people}
    for person in people:
        got = by_id[external[person.id]]
        assert (got.given_name, got.family_name, got.active) == (
            person.given_name,
            person.family_name,
            person.active,
        )
        want = external.get(person.manager_id) if person.manager_id else None
        if person.manager_id == gone.id:
            want = None  # an erased manager is not in the HRIS
        assert got.manager_external_id == want
    codes = [s.external_id for s in snapshot.skills]
    assert codes == sorted(codes)
    assert snapshot.ratings
    assert external[gone.id] not in {r.person_external_id for r in snapshot.ratings}
    assert {r.person_external_id for r in snapshot.ratings} <= set(by_id)
    assert {r.skill_external_id for r in snapshot.ratings} <= set(codes)
