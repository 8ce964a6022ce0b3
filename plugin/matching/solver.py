"""Exact one-to-one (capacitated) assignment by min-cost flow, with LP duals for pricing.

Network: source -> each mentee (capacity 1) -> mentor (capacity 1, cost ``-W``) -> sink
(capacity = the mentor's capacity). Scores become integer costs ``W = round(score * 1e6)``;
the optimum is exact for those rounded scores (ties closer than 1e-6 may break either way).

* ``best_total``: an extra mentee -> sink arc at cost 0 lets a mentee stay unmatched, so a
  pair is only formed when it adds score; pairs with ``W <= 0`` are never formed (and are
  dropped before solving).
* ``most_matched``: OR-Tools' ``SolveMaxFlowWithMinCost`` maximises the number of matches
  first and then the score among all maximum matchings (lexicographic, no big-M in the
  solver). Pairs with negative scores are formed when they add a match.

After solving, :func:`flow_duals` recovers dual prices ``u`` (per mentee) and ``v`` (per
mentor) from the residual graph by shortest paths. They certify optimality by LP duality:
``sum(u) + sum(capacity * v)`` equals the optimum, and ``u[s] + v[m] >= W'(m, s)`` holds for
every pair given to the solver. The caller (pricing) checks the same inequality for pairs it
pruned; if it holds for all of them, the pruned optimum is the optimum of the full instance.
For ``most_matched`` the duals are those of the equivalent weights ``W' = W + M`` with
``M`` larger than any possible difference in total score.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from plugin.errors import N_
from plugin.matching.errors import MatchError, MatchInputError
from plugin.matching.records import Objective

__all__ = [
    "SCALE",
    "Assignment",
    "AssignmentResult",
    "FlowSolution",
    "big_m",
    "flow_duals",
    "solve_assignment",
    "solve_flow",
    "to_cost",
]

#: Scores are multiplied by this and rounded to integers before solving.
SCALE = 1_000_000

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def to_cost(scores: npt.ArrayLike) -> I64:
    """Integer weights ``round(score * SCALE)``.

    Args:
        scores: Scores.

    Returns:
        int64 weights.
    """
    return np.rint(np.asarray(scores, dtype=np.float64) * SCALE).astype(np.int64)


def big_m(weights: I64, n_matches: int) -> int:
    """A constant larger than any difference in total weight between two plans.

    Args:
        weights: All pair weights that could be used.
        n_matches: Most matches a plan can hold.

    Returns:
        ``M`` such that one more match always beats any score difference.
    """
    biggest = int(np.abs(weights).max()) if len(weights) else 0
    return 2 * biggest * max(1, n_matches) + 1


@dataclass(frozen=True)
class FlowSolution:
    """A solved flow.

    Attributes:
        taken: Per arc, whether the pair is in the plan.
        weight: Sum of ``W`` over taken arcs.
        matches: Number of taken arcs.
    """

    taken: Bool
    weight: int
    matches: int


def solve_flow(
    *,
    capacities: I64,
    n_mentees: int,
    arc_mentee: I32,
    arc_mentor: I32,
    weights: I64,
    objective: Objective,
) -> FlowSolution:
    """Solve the capacitated assignment exactly on the given arcs.

    Args:
        capacities: Per mentor, places available.
        n_mentees: Number of mentees (each takes at most one mentor).
        arc_mentee: Per arc, mentee index.
        arc_mentor: Per arc, mentor index.
        weights: Per arc, integer weight ``W`` (arcs with ``W <= 0`` are ignored under
            ``best_total``).
        objective: ``best_total`` or ``most_matched``.

    Returns:
        The optimal plan.

    Raises:
        MatchError: If OR-Tools reports anything but an optimal flow.
    """
    n_mentors = len(capacities)
    n_arcs = len(weights)
    usable = np.ones(n_arcs, dtype=bool) if objective == "most_matched" else weights > 0
    taken = np.zeros(n_arcs, dtype=bool)
    if n_mentees == 0 or n_mentors == 0 or not usable.any():
        return FlowSolution(taken=taken, weight=0, matches=0)
    source, sink = 0, n_mentees + n_mentors + 1
    mentee_nodes = np.arange(1, n_mentees + 1, dtype=np.int32)
    mentor_nodes = np.arange(n_mentees + 1, n_mentees + n_mentors + 1, dtype=np.int32)
    idx = np.flatnonzero(usable)
    tails = [np.full(n_mentees, source, dtype=np.int32), mentee_nodes[arc_mentee[idx]]]
    heads = [mentee_nodes, mentor_nodes[arc_mentor[idx]]]
    caps = [np.ones(n_mentees, dtype=np.int64), np.ones(len(idx), dtype=np.int64)]
    costs = [np.zeros(n_mentees, dtype=np.int64), -weights[idx]]
    tails.append(mentor_nodes)
    heads.append(np.full(n_mentors, sink, dtype=np.int32))
    caps.append(capacities.astype(np.int64))
    costs.append(np.zeros(n_mentors, dtype=np.int64))
    if objective == "best_total":
        tails.append(mentee_nodes)
        heads.append(np.full(n_mentees, sink, dtype=np.int32))
        caps.append(np.ones(n_mentees, dtype=np.int64))
        costs.append(np.zeros(n_mentees, dtype=np.int64))
    smcf = min_cost_flow.SimpleMinCostFlow()
    all_arcs = smcf.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails), np.concatenate(heads), np.concatenate(caps), np.concatenate(costs)
    )
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[source], supplies[sink] = n_mentees, -n_mentees
    smcf.set_nodes_supplies(np.arange(sink + 1, dtype=np.int32), supplies)
    status = smcf.solve() if objective == "best_total" else smcf.solve_max_flow_with_min_cost()
    if status != smcf.OPTIMAL:
        raise MatchError(N_("min-cost flow failed with status %(status)s"), status=str(status))
    pair_arcs = np.asarray(all_arcs, dtype=np.int32)[n_mentees : n_mentees + len(idx)]
    flows = np.asarray(smcf.flows(pair_arcs))
    taken[idx] = flows > 0
    return FlowSolution(
        taken=taken, weight=int(weights[taken].sum()), matches=int(np.count_nonzero(taken))
    )


def _shortest_paths(n: int, tail: I64, head: I64, length: I64) -> I64:
    """Bellman-Ford from node 0 (frontier-based, vectorised); raises on a negative cycle."""
    order = np.argsort(tail, kind="stable")
    tail, head, length = tail[order], head[order], length[order]
    indptr = np.searchsorted(tail, np.arange(n + 1))
    inf = np.iinfo(np.int64).max // 4
    dist = np.full(n, inf, dtype=np.int64)
    dist[0] = 0
    frontier = np.zeros(1, dtype=np.int64)
    for _ in range(n + 1):
        starts = indptr[frontier]
        counts = indptr[frontier + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return dist
        offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        arcs = offsets + np.arange(total)
        cand = dist[tail[arcs]] + length[arcs]
        heads = head[arcs]
        better = cand < dist[heads]
        if not better.any():
            return dist
        heads, cand = heads[better], cand[better]
        np.minimum.at(dist, heads, cand)
        frontier = np.unique(heads)
    raise MatchError(N_("internal: the flow is not optimal (negative cycle in the residual graph)"))


def flow_duals(
    *,
    capacities: I64,
    n_mentees: int,
    arc_mentee: I32,
    arc_mentor: I32,
    weights: I64,
    taken: Bool,
) -> tuple[I64, I64]:
    """Dual prices certifying that ``taken`` is optimal for ``weights``.

    Solves the difference constraints ``u[s] + v[m] >= W`` (all arcs), ``= W`` (taken arcs),
    ``u, v >= 0``, ``u[s] = 0`` for unmatched mentees and ``v[m] = 0`` for mentors with
    spare places, as shortest paths from a root node.

    Args:
        capacities: Per mentor, places.
        n_mentees: Number of mentees.
        arc_mentee: Per arc, mentee index.
        arc_mentor: Per arc, mentor index.
        weights: Per arc, the weight the plan is optimal for (``W`` or ``W + M``); arcs
            that may not be used must already be left out.
        taken: Per arc, in the plan.

    Returns:
        ``(u, v)``: int64 prices per mentee and per mentor.
    """
    n_mentors = len(capacities)
    n = 1 + n_mentees + n_mentors
    s_node = 1 + arc_mentee.astype(np.int64)
    m_node = 1 + n_mentees + arc_mentor.astype(np.int64)
    matched = np.zeros(n_mentees, dtype=bool)
    matched[arc_mentee[taken]] = True
    load = np.bincount(arc_mentor[taken], minlength=n_mentors)
    spare = load < capacities
    all_mentees = np.arange(1, n_mentees + 1, dtype=np.int64)
    all_mentors = np.arange(1 + n_mentees, n, dtype=np.int64)
    unmatched = all_mentees[~matched]
    spare_mentors = all_mentors[spare]

    def zeros(size: int) -> I64:
        return np.zeros(size, dtype=np.int64)

    # Arc groups: s->m (-W, all), m->s (+W, taken), s->root (0), root->s (0, unmatched),
    # root->m (0), m->root (0, spare capacity).
    n_un, n_sp = len(unmatched), len(spare_mentors)
    tail = np.concatenate(
        [s_node, m_node[taken], all_mentees, zeros(n_un), zeros(n_mentors), spare_mentors]
    )
    head = np.concatenate(
        [m_node, s_node[taken], zeros(n_mentees), unmatched, all_mentors, zeros(n_sp)]
    )
    length = np.concatenate([-weights, weights[taken], zeros(n_mentees + n_un + n_mentors + n_sp)])
    dist = _shortest_paths(n, tail, head, length)
    u = dist[1 : 1 + n_mentees].copy()
    v = -dist[1 + n_mentees :]
    return u, v


@dataclass(frozen=True)
class Assignment:
    """One pair in an :class:`AssignmentResult`."""

    mentor: str
    mentee: str
    score: float


@dataclass(frozen=True)
class AssignmentResult:
    """Result of :func:`solve_assignment`.

    Attributes:
        objective: The objective used.
        total_score: Sum of the matched pairs' scores.
        matched: The pairs, in input order of mentees.
        unmatched_mentees: Mentees without a mentor, in input order.
        unmatched_mentors_capacity: Mentor id -> places left (only mentors with places left).
        optimal: Always True: every listed pair was given to an exact solver.
        solver: Solver name.
        seconds: Wall time.
    """

    objective: Objective
    total_score: float
    matched: tuple[Assignment, ...]
    unmatched_mentees: tuple[str, ...]
    unmatched_mentors_capacity: Mapping[str, int]
    optimal: bool
    solver: str
    seconds: float


def solve_assignment(
    *,
    mentors: Mapping[str, int],
    mentees: Sequence[str],
    pairs: Sequence[tuple[str, str, float]],
    objective: Objective = "best_total",
) -> AssignmentResult:
    """Solve an explicit instance exactly (backs ``tandem match solve``; needs no database).

    Only listed pairs are feasible. Under ``best_total`` pairs scoring <= 0 (after rounding
    to 1e-6) are never formed; under ``most_matched`` they are formed when they add a match.

    Args:
        mentors: Mentor id -> capacity (>= 0).
        mentees: Mentee ids (each takes at most one mentor).
        pairs: ``(mentor id, mentee id, score)`` triples.
        objective: ``best_total`` or ``most_matched``.

    Returns:
        The optimal plan.

    Raises:
        MatchInputError: On unknown ids, duplicate pairs or invalid numbers.
    """
    started = time.perf_counter()
    if objective not in ("best_total", "most_matched"):
        raise MatchInputError(
            N_("objective: unknown objective %(objective)s"),
            field="objective",
            objective=repr(objective),
        )
    mentor_ids = list(mentors)
    mentor_of = {m: i for i, m in enumerate(mentor_ids)}
    mentee_of: dict[str, int] = {}
    for i, s in enumerate(mentees):
        if s in mentee_of:
            raise MatchInputError(
                N_("mentees[%(index)s].id: duplicate id %(id)s"),
                field="mentees",
                index=i,
                id=repr(s),
            )
        mentee_of[s] = i
    caps = np.zeros(len(mentor_ids), dtype=np.int64)
    for i, cap in enumerate(mentors.values()):
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
            raise MatchInputError(
                N_("mentors[%(index)s].capacity: must be an integer >= 0, got %(value)s"),
                field="mentors",
                index=i,
                value=repr(cap),
            )
        caps[i] = cap
    arc_r = np.empty(len(pairs), dtype=np.int32)
    arc_c = np.empty(len(pairs), dtype=np.int32)
    scores = np.empty(len(pairs), dtype=np.float64)
    seen: set[tuple[int, int]] = set()
    for k, (m, s, score) in enumerate(pairs):
        if m not in mentor_of:
            raise MatchInputError(
                N_("pairs[%(index)s].mentor: unknown mentor id %(id)s"),
                field="pairs",
                index=k,
                id=repr(m),
            )
        if s not in mentee_of:
            raise MatchInputError(
                N_("pairs[%(index)s].mentee: unknown mentee id %(id)s"),
                field="pairs",
                index=k,
                id=repr(s),
            )
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise MatchInputError(
                N_("pairs[%(index)s].score: must be a number"), field="pairs", index=k
            )
        if not math.isfinite(score):
            raise MatchInputError(
                N_("pairs[%(index)s].score: must be a finite number, got %(value)s"),
                field="pairs",
                index=k,
                value=repr(score),
            )
        key = (mentor_of[m], mentee_of[s])
        if key in seen:
            raise MatchInputError(
                N_("pairs[%(index)s]: duplicate pair mentor %(mentor)s / mentee %(mentee)s"),
                field="pairs",
                index=k,
                mentor=repr(m),
                mentee=repr(s),
            )
        seen.add(key)
        arc_c[k], arc_r[k] = key
        scores[k] = score
    sol = solve_flow(
        capacities=caps,
        n_mentees=len(mentee_of),
        arc_mentee=arc_r,
        arc_mentor=arc_c,
        weights=to_cost(scores),
        objective=objective,
    )
    chosen = np.flatnonzero(sol.taken)
    chosen = chosen[np.argsort(arc_r[chosen], kind="stable")]
    matched = tuple(
        Assignment(mentor_ids[arc_c[k]], mentees[arc_r[k]], float(scores[k])) for k in chosen
    )
    has_mentor = np.zeros(len(mentee_of), dtype=bool)
    has_mentor[arc_r[chosen]] = True
    load = np.bincount(arc_c[chosen], minlength=len(mentor_ids))
    return AssignmentResult(
        objective=objective,
        total_score=float(sum(a.score for a in matched)),
        matched=matched,
        unmatched_mentees=tuple(s for i, s in enumerate(mentees) if not has_mentor[i]),
        unmatched_mentors_capacity={
            m: int(caps[i] - load[i]) for i, m in enumerate(mentor_ids) if caps[i] > load[i]
        },
        optimal=True,
        solver="ortools.min_cost_flow",
        seconds=time.perf_counter() - started,
    )
