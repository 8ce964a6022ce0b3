"""``tandem assessments …`` and ``tandem completions …``."""

from __future__ import annotations

import click

__all__ = ["assessments_group", "completions_group"]


@click.group("assessments")
def assessments_group() -> None:
    """Pre/post/follow-up self-assessments and the end-of-program survey."""


@click.group("completions")
def completions_group() -> None:
    """Completions by the program's rule, with write-back."""
