"""``tandem report``: the program report on Kirkpatrick's levels."""

from __future__ import annotations

import click

__all__ = ["report_command"]


@click.command("report")
def report_command() -> None:
    """Print a program's report (not built yet)."""
