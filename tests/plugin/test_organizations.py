from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.errors import ConflictError, NotFound, ValidationError
from plugin.models import AuditEvent, Organization
from plugin.services import audit, organizations


def test_create_and_get(db_session: Session) -> None:
    org = organizations.create_organization(db_session, slug="acme", name="ACME", actor="t")
    assert organizations.get_organization(db_session, "acme").id == org.id
    events = audit.list_events(db_session, org_id=org.id)
    assert [e.action for e in events] == ["organization.created"]
    assert events[0].actor == "t"


@pytest.mark.parametrize("slug", ["", "ACME", "a b", "-acme", "acme-", "a" * 65, "ä"])
def test_bad_slug_writes_nothing(db_session: Session, slug: str) -> None:
    with pytest.raises(ValidationError, match="slug"):
        organizations.create_organization(db_session, slug=slug, name="X", actor="t")
    assert db_session.scalar(select(func.count()).select_from(Organization)) == 0


def test_blank_name(db_session: Session) -> None:
    with pytest.raises(ValidationError, match="name"):
        organizations.create_organization(db_session, slug="x", name="  ", actor="t")


def test_duplicate_slug(db_session: Session) -> None:
    organizations.create_organization(db_session, slug="acme", name="ACME", actor="t")
    with pytest.raises(ConflictError, match="already exists"):
        organizations.create_organization(db_session, slug="acme", name="Other", actor="t")
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_unknown_org() -> None:
    class _S:
        def scalar(self, _stmt: object) -> None:
            return None

    with pytest.raises(NotFound, match="unknown organization 'nope'"):
        organizations.get_organization(_S(), "nope")  # type: ignore[arg-type]


def test_audit_is_scoped_and_newest_first(db_session: Session) -> None:
    a = organizations.create_organization(db_session, slug="a", name="A", actor="t")
    b = organizations.create_organization(db_session, slug="b", name="B", actor="t")
    audit.record(db_session, org_id=a.id, actor="x", action="sync.started", object_type="c")
    assert [e.action for e in audit.list_events(db_session, org_id=a.id)] == [
        "sync.started",
        "organization.created",
    ]
    assert len(audit.list_events(db_session, org_id=b.id)) == 1
    assert len(audit.list_events(db_session, org_id=a.id, action="sync.started")) == 1
