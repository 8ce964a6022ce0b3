"""JSON instances for ``tandem match solve --input instance.json --output result.json``.

Instance::

    {"mentors": [{"id": "m1", "capacity": 2}],
     "mentees": [{"id": "s1"}],
     "pairs": [{"mentor": "m1", "mentee": "s1", "score": 0.83}],
     "objective": "best_total"}

Only listed pairs are feasible. ``objective`` is optional (default ``best_total``). Under
``best_total`` a pair scoring <= 0 is never formed; under ``most_matched`` it is formed when
it adds a match (the count comes first, then the total score).

Result::

    {"objective": "best_total", "total_score": 0.83,
     "matched": [{"mentor": "m1", "mentee": "s1", "score": 0.83}],
     "unmatched_mentees": [], "unmatched_mentors_capacity": {"m1": 1},
     "optimal": true, "solver": "ortools.min_cost_flow", "seconds": 0.001}

Scores are solved as integers ``round(score * 1e6)``; the optimum is exact at that precision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugin.matching.errors import MatchInputError
from plugin.matching.records import Objective
from plugin.matching.solver import AssignmentResult, solve_assignment

__all__ = [
    "AssignmentInstance",
    "parse_instance",
    "parse_instance_text",
    "render_result",
    "solve_instance",
]

_OBJECTIVES: tuple[Objective, ...] = ("best_total", "most_matched")
_TOP_KEYS = {"mentors", "mentees", "pairs", "objective"}


@dataclass(frozen=True)
class AssignmentInstance:
    """A validated instance.

    Attributes:
        mentors: Mentor id -> capacity, in input order.
        mentees: Mentee ids, in input order.
        pairs: ``(mentor id, mentee id, score)``.
        objective: ``best_total`` or ``most_matched``.
    """

    mentors: Mapping[str, int]
    mentees: tuple[str, ...]
    pairs: tuple[tuple[str, str, float], ...]
    objective: Objective


def _err(where: str, message: str) -> MatchInputError:
    return MatchInputError(f"{where}: {message}", field=where.split("[")[0].split(".")[0])


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    if key not in data:
        raise _err(key, "is required")
    value = data[key]
    if not isinstance(value, list):
        raise _err(key, f"must be a list, got {type(value).__name__}")
    return value


def _id(item: Mapping[str, Any], key: str, where: str) -> str:
    if key not in item:
        raise _err(where, f"'{key}' is required")
    value = item[key]
    if not isinstance(value, str) or not value:
        raise _err(f"{where}.{key}", f"must be a non-empty string, got {value!r}")
    return value


def _object(item: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise _err(where, f"must be an object, got {type(item).__name__}")
    return item


def parse_instance(data: Any) -> AssignmentInstance:
    """Validate a loaded JSON instance.

    Args:
        data: The parsed JSON document.

    Returns:
        The instance.

    Raises:
        MatchInputError: With the field and index/id at fault, e.g.
            ``pairs[2].mentor: unknown mentor id 'm9'``.
    """
    if not isinstance(data, Mapping):
        raise _err("instance", f"must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        raise _err("instance", f"unknown keys: {', '.join(unknown)}")
    objective = data.get("objective", "best_total")
    if objective not in _OBJECTIVES:
        raise _err("objective", f"must be one of best_total, most_matched, got {objective!r}")
    mentors: dict[str, int] = {}
    for i, raw in enumerate(_list(data, "mentors")):
        where = f"mentors[{i}]"
        item = _object(raw, where)
        mid = _id(item, "id", where)
        if mid in mentors:
            raise _err(f"{where}.id", f"duplicate mentor id {mid!r}")
        if "capacity" not in item:
            raise _err(where, "'capacity' is required")
        cap = item["capacity"]
        if isinstance(cap, float) and cap.is_integer():
            cap = int(cap)
        if isinstance(cap, bool) or not isinstance(cap, int):
            raise _err(f"{where}.capacity", f"must be an integer, got {cap!r}")
        if cap < 0:
            raise _err(f"{where}.capacity", f"must be >= 0, got {cap}")
        mentors[mid] = cap
    mentees: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(_list(data, "mentees")):
        where = f"mentees[{i}]"
        sid = _id(_object(raw, where), "id", where)
        if sid in seen:
            raise _err(f"{where}.id", f"duplicate mentee id {sid!r}")
        seen.add(sid)
        mentees.append(sid)
    pairs: list[tuple[str, str, float]] = []
    seen_pairs: set[tuple[str, str]] = set()
    for i, raw in enumerate(_list(data, "pairs")):
        where = f"pairs[{i}]"
        item = _object(raw, where)
        mid = _id(item, "mentor", where)
        sid = _id(item, "mentee", where)
        if mid not in mentors:
            raise _err(f"{where}.mentor", f"unknown mentor id {mid!r}")
        if sid not in seen:
            raise _err(f"{where}.mentee", f"unknown mentee id {sid!r}")
        if "score" not in item:
            raise _err(where, "'score' is required")
        score = item["score"]
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise _err(f"{where}.score", f"must be a number, got {score!r}")
        if not math.isfinite(score):
            raise _err(f"{where}.score", f"must be a finite number, got {score!r}")
        if (mid, sid) in seen_pairs:
            raise _err(where, f"duplicate pair mentor {mid!r} / mentee {sid!r}")
        seen_pairs.add((mid, sid))
        pairs.append((mid, sid, float(score)))
    return AssignmentInstance(
        mentors=mentors, mentees=tuple(mentees), pairs=tuple(pairs), objective=objective
    )


def parse_instance_text(text: str) -> AssignmentInstance:
    """Parse and validate instance JSON text.

    ``NaN``/``Infinity`` literals are refused as invalid JSON rather than silently accepted.

    Args:
        text: The JSON document.

    Returns:
        The instance.

    Raises:
        MatchInputError: On invalid JSON or an invalid instance.
    """

    def no_constants(name: str) -> float:
        raise _err("instance", f"invalid JSON number {name}")

    try:
        data = json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise _err(
            "instance", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    return parse_instance(data)


def solve_instance(instance: AssignmentInstance) -> AssignmentResult:
    """Solve a parsed instance exactly.

    Args:
        instance: The instance.

    Returns:
        The result.
    """
    return solve_assignment(
        mentors=instance.mentors,
        mentees=instance.mentees,
        pairs=instance.pairs,
        objective=instance.objective,
    )


def render_result(result: AssignmentResult) -> dict[str, Any]:
    """The JSON-ready result document.

    Args:
        result: The solved result.

    Returns:
        A dict ready for ``json.dumps``.
    """
    return {
        "objective": result.objective,
        "total_score": result.total_score,
        "matched": [
            {"mentor": a.mentor, "mentee": a.mentee, "score": a.score} for a in result.matched
        ],
        "unmatched_mentees": list(result.unmatched_mentees),
        "unmatched_mentors_capacity": dict(result.unmatched_mentors_capacity),
        "optimal": result.optimal,
        "solver": result.solver,
        "seconds": round(result.seconds, 6),
    }
