"""Checks of user input shared by the services: whole numbers in a range, bounded text.

Each raises :class:`plugin.errors.ValidationError` naming the field and what was wrong,
before the caller writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugin.errors import N_, ValidationError

__all__ = ["required_text", "text", "whole_number"]


def whole_number(value: Any, lo: int, hi: int, *, field: str, what: str | None = None) -> int:
    """``value`` if it is an int (not a bool) from ``lo`` to ``hi``.

    Args:
        value: The input.
        lo: Smallest allowed value.
        hi: Largest allowed value.
        field: The input field, reported with the error.
        what: How the message names it (default: ``field``).
    """
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationError(
            N_("%(name)s must be a whole number from %(lo)s to %(hi)s"),
            field=field,
            name=what or field,
            lo=lo,
            hi=hi,
        )
    return value


def text(
    value: Any,
    *,
    field: str,
    limit: int,
    required: bool = False,
    what: str | None = None,
    message: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> str | None:
    """``value`` stripped; ``None`` for missing or blank optional text.

    Args:
        value: The input.
        field: The input field, reported with the error.
        limit: Most characters allowed (after stripping).
        required: Whether missing or blank text is an error.
        what: How the message names it (default: ``field``); a
            :class:`~plugin.errors.Msg` is shown translated.
        message: The whole message for missing or blank required text (marked with
            :func:`~plugin.errors.N_`, so that it translates as one sentence), instead of
            "<what> is required".
        params: The values of ``message``'s ``%(name)s`` placeholders.
    """
    label = what or field
    if value is not None and not isinstance(value, str):
        raise ValidationError(N_("%(name)s must be text"), field=field, name=label)
    clean = (value or "").strip()
    if not clean:
        if required:
            if message is not None:
                raise ValidationError(message, field=field, **dict(params or {}))
            raise ValidationError(N_("%(name)s is required"), field=field, name=label)
        return None
    if len(clean) > limit:
        raise ValidationError(
            N_("%(name)s is %(length)s characters long; at most %(limit)s are allowed"),
            field=field,
            name=label,
            length=len(clean),
            limit=limit,
        )
    return clean


def required_text(
    value: Any,
    *,
    field: str,
    limit: int,
    what: str | None = None,
    message: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> str:
    """``value`` stripped; missing or blank text is an error (see :func:`text`)."""
    clean = text(
        value,
        field=field,
        limit=limit,
        required=True,
        what=what,
        message=message,
        params=params,
    )
    if clean is None:  # pragma: no cover - text() raised already
        raise ValidationError(N_("%(name)s is required"), field=field, name=what or field)
    return clean
