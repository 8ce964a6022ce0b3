"""Shared pieces of the tracking commands: who acts, and how results are printed.

The CLI is the operator's tool. Participant actions name the person they are done for
(``--as PERSON_ID``); the audit log records both the operator and that person.
Coordinator actions run as an organization admin unless ``--coordinator PERSON_ID``
names a coordinator, whose program rights are then checked.
"""

from __future__ import annotations

import json
from typing import Any

import click

from lti.cli import actor
from plugin.access import Actor

__all__ = ["as_coordinator", "as_participant", "echo_json"]


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
