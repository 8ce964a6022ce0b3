"""Organizations (tenants)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.errors import N_, ConflictError, NotFound, ValidationError
from plugin.models import Organization
from plugin.services import audit

__all__ = [
    "LINK_RULES",
    "create_organization",
    "find_organization",
    "get_organization",
    "list_organizations",
    "set_identity_link_rule",
]

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
        raise NotFound(N_("unknown organization %(org)s"), field="org", org=repr(slug))
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
            N_(
                "invalid organization slug %(slug)s: use 1–64 lower-case letters, digits and "
                "hyphens, starting and ending with a letter or digit"
            ),
            field="slug",
            slug=repr(slug),
        )
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError(N_("organization name must be 1–200 characters"), field="name")
    if find_organization(session, slug) is not None:
        raise ConflictError(N_("organization %(org)s already exists"), field="slug", org=repr(slug))
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


#: How LTI users are linked to HRIS people (see :mod:`plugin.services.lti_launches`).
LINK_RULES = ("email", "sourcedid")


def set_identity_link_rule(
    session: Session, *, org: Organization, rule: str, actor: str
) -> Organization:
    """Choose how LMS users are linked to people: by e-mail or by employee id (audited).

    ``email``: the launch's e-mail claim equals the person's e-mail (ignoring case).
    ``sourcedid``: ``lis.person_sourcedid`` (Moodle: the user's ID number) equals the
    person's HRIS employee id. Existing links are kept; the rule applies to users not
    linked yet.

    Raises:
        ValidationError: Not one of :data:`LINK_RULES`.
    """
    if rule not in LINK_RULES:
        raise ValidationError(
            N_("unknown link rule %(rule)s; choose from %(choices)s"),
            field="rule",
            rule=repr(rule),
            choices=", ".join(LINK_RULES),
        )
    if org.identity_link_rule != rule:
        before = org.identity_link_rule
        org.identity_link_rule = rule
        session.flush()
        audit.record(
            session,
            org_id=org.id,
            actor=actor,
            action="organization.link_rule_changed",
            object_type="organization",
            object_id=org.id,
            details={"from": before, "to": rule},
        )
    return org
