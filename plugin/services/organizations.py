"""Organizations (tenants)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.errors import ConflictError, NotFound, ValidationError
from plugin.models import Organization
from plugin.services import audit

__all__ = ["create_organization", "find_organization", "get_organization", "list_organizations"]

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def find_organization(session: Session, slug: str) -> Organization | None:
    """The organization with this slug, or None."""
    return session.scalar(select(Organization).where(Organization.slug == slug))


def get_organization(session: Session, slug: str) -> Organization:
    """The organization with this slug.

    Raises:
        NotFound: No organization has this slug.
    """
    org = find_organization(session, slug)
    if org is None:
        raise NotFound(f"unknown organization {slug!r}", field="org")
    return org


def list_organizations(session: Session) -> Sequence[Organization]:
    """All organizations, by slug."""
    return session.scalars(select(Organization).order_by(Organization.slug)).all()


def create_organization(session: Session, *, slug: str, name: str, actor: str) -> Organization:
    """Create a tenant.

    Args:
        session: The unit of work.
        slug: Lower-case letters, digits and hyphens, 1–64 characters; unique.
        name: Display name.
        actor: Who creates it (for the audit log).

    Raises:
        ValidationError: The slug or name is malformed.
        ConflictError: The slug is taken.
    """
    if not SLUG_RE.match(slug or ""):
        raise ValidationError(
            f"invalid organization slug {slug!r}: use 1–64 lower-case letters, digits and "
            "hyphens, starting and ending with a letter or digit",
            field="slug",
        )
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError("organization name must be 1–200 characters", field="name")
    if find_organization(session, slug) is not None:
        raise ConflictError(f"organization {slug!r} already exists", field="slug")
    org = Organization(slug=slug, name=name)
    session.add(org)
    session.flush()
    audit.record(
        session,
        org_id=org.id,
        actor=actor,
        action="organization.created",
        object_type="organization",
        object_id=org.id,
        details={"slug": slug},
    )
    return org
