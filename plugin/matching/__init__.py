"""Tandem's pure matching engine: score pairs, apply hard rules, solve exactly, explain.

No database, no I/O: callers build :class:`Candidate` records (from enrollments and the org
chart) and :class:`MatchSettings` (from the program), call :func:`match`, and store the
:class:`MatchResult`. :func:`solve_assignment` and :mod:`plugin.matching.instance` solve an
explicit pair list without candidates (``tandem match solve``).
"""

from __future__ import annotations

from plugin.matching.errors import MatchError, MatchInputError
from plugin.matching.explain import explain_factors, explain_unmatched, explain_violation
from plugin.matching.instance import (
    AssignmentInstance,
    parse_instance,
    parse_instance_text,
    render_result,
    solve_instance,
)
from plugin.matching.pipeline import Progress, match
from plugin.matching.records import (
    BrokenLock,
    Candidate,
    Factor,
    FactorContribution,
    Format,
    HardRules,
    LockedTandem,
    LockViolation,
    MatchResult,
    MatchSettings,
    MatchStats,
    MatchWeights,
    Objective,
    PairBreakdown,
    Role,
    Rule,
    Tandem,
    UnmatchedPerson,
    UnmatchedReason,
)
from plugin.matching.scoring import pair_factors, pair_score, pair_violations
from plugin.matching.solver import Assignment, AssignmentResult, solve_assignment

__all__ = [
    "Assignment",
    "AssignmentInstance",
    "AssignmentResult",
    "BrokenLock",
    "Candidate",
    "Factor",
    "FactorContribution",
    "Format",
    "HardRules",
    "LockViolation",
    "LockedTandem",
    "MatchError",
    "MatchInputError",
    "MatchResult",
    "MatchSettings",
    "MatchStats",
    "MatchWeights",
    "Objective",
    "PairBreakdown",
    "Progress",
    "Role",
    "Rule",
    "Tandem",
    "UnmatchedPerson",
    "UnmatchedReason",
    "explain_factors",
    "explain_unmatched",
    "explain_violation",
    "match",
    "pair_factors",
    "pair_score",
    "pair_violations",
    "parse_instance",
    "parse_instance_text",
    "render_result",
    "solve_assignment",
    "solve_instance",
]
