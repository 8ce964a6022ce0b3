"""``tandem sessions …`` and ``tandem alerts …``."""

from __future__ import annotations

import click

__all__ = ["alerts_group", "sessions_group"]


@click.group("sessions")
def sessions_group() -> None:
    """Mentoring sessions: plan, hold, cancel, notes, feedback."""


@click.group("alerts")
def alerts_group() -> None:
    """Alerts for program coordinators."""
