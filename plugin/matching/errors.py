"""Errors of the matching engine.

``MatchError`` is the core's own (``plugin.errors``); it is re-exported here so callers of
:mod:`plugin.matching` need one import. ``MatchInputError`` narrows it to "the input is
invalid" (bad instance JSON, bad settings, unknown ids in locks) and names the field at fault.
"""

from __future__ import annotations

from plugin.errors import MatchError

__all__ = ["MatchError", "MatchInputError"]


class MatchInputError(MatchError):
    """The matching input is malformed or inconsistent; nothing was solved.

    The message names the field (and index or id) at fault, e.g.
    ``pairs[3].score: must be a finite number, got NaN``.
    """
