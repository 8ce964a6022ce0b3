from __future__ import annotations

import random

import numpy as np
import pytest

from plugin.matching import solve_assignment
from plugin.matching.solver import big_m, flow_duals, solve_flow, to_cost

from .helpers import brute_assignment


def _random_instance(rng: random.Random) -> tuple[list[int], int, dict[tuple[int, int], float]]:
    n_m, n_s = rng.randint(1, 3), rng.randint(1, 5)
    caps = [rng.randint(0, 3) for _ in range(n_m)]
    scores = {
        (m, s): round(rng.uniform(-0.5, 1.0), 3)
        for m in range(n_m)
        for s in range(n_s)
        if rng.random() < 0.7
    }
    return caps, n_s, scores


@pytest.mark.parametrize("objective", ["best_total", "most_matched"])
def test_exact_against_brute_force(objective: str) -> None:
    rng = random.Random(7)
    for _ in range(150):
        caps, n_s, scores = _random_instance(rng)
        result = solve_assignment(
            mentors={f"m{m}": c for m, c in enumerate(caps)},
            mentees=[f"s{s}" for s in range(n_s)],
            pairs=[(f"m{m}", f"s{s}", sc) for (m, s), sc in scores.items()],
            objective=objective,  # type: ignore[arg-type]
        )
        count, total = brute_assignment(caps, n_s, scores, objective)
        assert len(result.matched) == count
        assert result.total_score == pytest.approx(total, abs=1e-9)


def test_most_matched_and_best_total_differ() -> None:
    # s1 loves m1; s2 can only take m1. Best total: s1-m1 (0.9). Most matched: s1-m2, s2-m1.
    mentors = {"m1": 1, "m2": 1}
    pairs = [("m1", "s1", 0.9), ("m2", "s1", 0.1), ("m1", "s2", 0.2)]
    best = solve_assignment(mentors=mentors, mentees=["s1", "s2"], pairs=pairs)
    most = solve_assignment(
        mentors=mentors, mentees=["s1", "s2"], pairs=pairs, objective="most_matched"
    )
    assert [(a.mentor, a.mentee) for a in best.matched] == [("m1", "s1")]
    assert best.total_score == pytest.approx(0.9)
    assert sorted((a.mentor, a.mentee) for a in most.matched) == [("m1", "s2"), ("m2", "s1")]
    assert most.total_score == pytest.approx(0.3)


def test_negative_and_zero_pairs_are_never_taken_under_best_total() -> None:
    result = solve_assignment(
        mentors={"m1": 2}, mentees=["s1", "s2"], pairs=[("m1", "s1", -0.1), ("m1", "s2", 0.0)]
    )
    assert result.matched == ()
    assert result.unmatched_mentees == ("s1", "s2")
    assert result.unmatched_mentors_capacity == {"m1": 2}


def test_duals_certify_optimality() -> None:
    rng = np.random.default_rng(3)
    n_s, n_m = 60, 12
    row = np.repeat(np.arange(n_s), n_m).astype(np.int32)
    col = np.tile(np.arange(n_m), n_s).astype(np.int32)
    w = to_cost(rng.uniform(-0.2, 1, len(row)))
    caps = rng.integers(0, 5, n_m).astype(np.int64)
    for objective in ("best_total", "most_matched"):
        sol = solve_flow(
            capacities=caps,
            n_mentees=n_s,
            arc_mentee=row,
            arc_mentor=col,
            weights=w,
            objective=objective,  # type: ignore[arg-type]
        )
        use = np.ones(len(w), bool) if objective == "most_matched" else w > 0
        m = big_m(w, n_s) if objective == "most_matched" else 0
        u, v = flow_duals(
            capacities=caps,
            n_mentees=n_s,
            arc_mentee=row[use],
            arc_mentor=col[use],
            weights=w[use] + m,
            taken=sol.taken[use],
        )
        assert (u >= 0).all()
        assert (v >= 0).all()
        assert (u[row[use]] + v[col[use]] >= w[use] + m).all()
        assert u.sum() + (caps * v).sum() == (w[sol.taken] + m).sum()
