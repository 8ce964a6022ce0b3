"""``tandem tandems …`` and ``tandem coordinators …``."""

from __future__ import annotations

import click

__all__ = ["coordinators_group", "tandems_group"]


@click.group("tandems")
def tandems_group() -> None:
    """Tandems: consent, kick-off, goals, actions, completion, dissolution."""


@click.group("coordinators")
def coordinators_group() -> None:
    """Program coordinators."""
