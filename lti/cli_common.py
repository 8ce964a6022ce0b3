"""Shared pieces of the tracking commands: who acts, and how results are printed.

The CLI is the operator's tool. Participant actions name the person they are done for
(``--as PERSON_ID``); the audit log records both the operator and that person.
Coordinator actions run as an organization admin unless ``--coordinator PERSON_ID``
names a coordinator, whose program rights are then checked.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import click

from lti.cli import actor
from lti.db import get_session
from plugin.access import Actor
from plugin.db import Base
from plugin.errors import NotFound
from plugin.models import Program
from plugin.services import organizations, programs

__all__ = ["as_coordinator", "as_participant", "echo_json", "find", "program_in"]

RowT = TypeVar("RowT", bound=Base)


def as_participant(org_id: int, person_id: int) -> Actor:
    """The participant ``person_id``, acted for by the operator."""
    return Actor.participant(org_id, person_id, label=f"{actor()} as person:{person_id}")


def as_coordinator(org_id: int, person_id: int | None) -> Actor:
    """A named coordinator, or the operator as organization admin."""
    if person_id is None:
        return Actor.admin(org_id, actor())
    return Actor.coordinator(org_id, person_id, label=f"{actor()} as person:{person_id}")


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dates and datetimes as ISO 8601)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def find(model: type[RowT], row_id: int, what: str) -> RowT:
    """The row ``row_id`` of ``model``; its organization comes from the row itself.

    Raises:
        NotFound: No such row (``"<what> <id> not found"``).
    """
    row = get_session().get(model, row_id)
    if row is None:
        raise NotFound(f"{what} {row_id} not found", field=what)
    return row


def program_in(program_id: int, org_slug: str | None = None) -> Program:
    """A program by id, checked against ``--org`` when given.

    Raises:
        NotFound: No such organization, or no such program (in it).
    """
    if org_slug:
        session = get_session()
        org = organizations.get_organization(session, org_slug)
        return programs.get_program(session, org_id=org.id, program_id=program_id)
    return find(Program, program_id, "program")
