"""Builders and brute-force oracles for the matching tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from plugin.matching import Candidate, MatchSettings, pair_score, pair_violations


def mentor(id: str, **kw: Any) -> Candidate:
    base: dict[str, Any] = {
        "role": "mentor",
        "org_id": "o1",
        "grade": 3,
        "languages": frozenset({"de"}),
        "utc_offset_minutes": 60,
        "department": "IT",
        "capacity": 1,
        "topics_offered": {"ai_tools": 4},
    }
    base.update(kw)
    return Candidate(id=id, **base)


def mentee(id: str, **kw: Any) -> Candidate:
    base: dict[str, Any] = {
        "role": "mentee",
        "org_id": "o1",
        "grade": 8,
        "languages": frozenset({"de"}),
        "utc_offset_minutes": 60,
        "department": "Sales",
        "topics_wanted": {"ai_tools": 5},
    }
    base.update(kw)
    return Candidate(id=id, **base)


def topic_instance(
    matrix: Sequence[Sequence[int]], caps: Sequence[int]
) -> tuple[list[Candidate], list[Candidate], MatchSettings]:
    """Mentee i wants topic t{i} only; mentor j offers it at level matrix[i][j] (0 = not).

    With only the topic weight on, score(i, j) = matrix[i][j] / 5 exactly.
    """
    from plugin.matching import MatchWeights

    n_s, n_m = len(matrix), len(caps)
    mentees = [mentee(f"s{i}", topics_wanted={f"t{i}": 5}) for i in range(n_s)]
    mentors = [
        mentor(
            f"m{j}",
            capacity=caps[j],
            topics_offered={f"t{i}": matrix[i][j] for i in range(n_s) if matrix[i][j]},
        )
        for j in range(n_m)
    ]
    weights = MatchWeights(
        topic_fit=1.0,
        cross_department=0,
        seniority_gap=0,
        shared_language=0,
        timezone=0,
        preference=0,
        previous_pairing_penalty=0,
    )
    return mentors, mentees, MatchSettings(weights=weights)


def brute_assignment(
    caps: Sequence[int],
    n_mentees: int,
    scores: dict[tuple[int, int], float],
    objective: str,
) -> tuple[int, float]:
    """Best (matches, total) over every assignment; scores keyed (mentor, mentee)."""
    options = [[None, *[m for m in range(len(caps)) if (m, s) in scores]] for s in range(n_mentees)]
    best: tuple[int, float] = (0, 0.0)
    best_key: tuple[float, ...] = (0.0, 0.0) if objective == "most_matched" else (0.0,)
    for choice in itertools.product(*options):
        load = [0] * len(caps)
        ok = True
        count, total = 0, 0.0
        for s, m in enumerate(choice):
            if m is None:
                continue
            load[m] += 1
            if load[m] > caps[m]:
                ok = False
                break
            count += 1
            total += scores[m, s]
        if not ok:
            continue
        if objective == "best_total" and any(
            m is not None and scores[m, s] <= 0 for s, m in enumerate(choice)
        ):
            continue
        key = (count, round(total, 9)) if objective == "most_matched" else (round(total, 9),)
        if key > best_key:
            best_key, best = key, (count, total)
    return best


def feasible_scores(
    mentors: Sequence[Candidate], mentees: Sequence[Candidate], settings: MatchSettings
) -> dict[tuple[int, int], float]:
    out: dict[tuple[int, int], float] = {}
    for j, m in enumerate(mentors):
        for i, s in enumerate(mentees):
            if not pair_violations(m, s, settings.rules):
                out[j, i] = pair_score(m, s, settings)
    return out
