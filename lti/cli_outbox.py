"""``tandem outbox …`` and ``tandem targets …``."""

from __future__ import annotations

import click

__all__ = ["outbox_group", "targets_group", "worker_command"]


@click.group("outbox")
def outbox_group() -> None:
    """The write-back outbox."""


@click.group("targets")
def targets_group() -> None:
    """Write-back targets of an organization."""


@click.command("worker")
def worker_command() -> None:
    """Deliver pending write-back messages (not built yet)."""
