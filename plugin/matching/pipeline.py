"""The matching pipeline: locks -> score -> prune -> solve -> price -> explain.

One-to-one at scale (tens of thousands per side) works like this:

1. Score every (mentee, mentor) pair in blocks of rows (:func:`score_block`), keep per-row
   and per-column tallies of the hard rules and, per mentee, the ``top_k`` best mentors plus,
   per mentor, the ``top_k_per_mentor`` best mentees. Every other feasible pair is *pruned*;
   per mentee we remember an upper bound of its pruned scores.
2. Solve the pruned graph exactly by min-cost flow and recover LP duals ``u, v``.
3. Pricing: a pruned pair ``(m, s)`` could improve the plan only if
   ``W(m, s) > u[s] + v[m]``. Mentees whose bound is <= ``u[s]`` cannot have such a pair
   (``v >= 0``); the others are re-scored in full and violating pairs are added, then we
   re-solve. When no pair violates, the duals are feasible for the full instance, so the
   plan is proven optimal for all pairs, not just the kept ones. If the round limit is hit,
   ``u`` is raised to cover every violation, which yields a valid upper bound, and the
   result reports ``optimal=False`` with that gap.

Groups and bidirectional pairs are for cohorts (hundreds of people) and go to CP-SAT
(:mod:`plugin.matching.cohort`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from plugin.errors import N_, word
from plugin.matching.errors import MatchInputError
from plugin.matching.explain import explain_factors, explain_unmatched, explain_violation
from plugin.matching.records import (
    BrokenLock,
    Candidate,
    Factor,
    LockedTandem,
    LockViolation,
    MatchResult,
    MatchSettings,
    MatchStats,
    PairBreakdown,
    Rule,
    Tandem,
    UnmatchedPerson,
    UnmatchedReason,
)
from plugin.matching.scoring import (
    RULE_ORDER,
    Encoded,
    encode,
    pair_factors,
    pair_violations,
    score_block,
)
from plugin.matching.solver import SCALE, big_m, flow_duals, solve_flow, to_cost

__all__ = ["Progress", "breakdown", "check_locks", "match"]

#: ``progress(stage, done, total)``; stages: ``score``, ``solve``, ``price``, ``explain``.
Progress = Callable[[str, int, int], None]

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

_NO_BOUND = np.iinfo(np.int64).min
_EXACT_COLS = 256
_NEAR = int(0.02 * SCALE)
_NEAR_PER_ROW = 4
_POSITIVE = np.float32(0.4 / SCALE)


def _noop(stage: str, done: int, total: int) -> None:
    """Default progress callback."""


def match(
    mentors: Sequence[Candidate],
    mentees: Sequence[Candidate],
    settings: MatchSettings | None = None,
    *,
    locked: Sequence[LockedTandem] = (),
    release_broken_locks: bool = True,
    topic_labels: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> MatchResult:
    """Match mentors (juniors) with mentees (seniors) for one program run.

    Args:
        mentors: Juniors (``role="mentor"``). Bidirectional: together with ``mentees`` the
            pool of peers (roles are then ignored).
        mentees: Seniors (``role="mentee"``).
        settings: Weights, rules, format and objective (defaults when None).
        locked: Tandems to keep; their members are not re-matched (a locked mentor's
            capacity shrinks accordingly) and each lock is re-checked against the hard rules.
        release_broken_locks: Put members of locks that now break a hard rule back into the
            pool (default). When False, broken locks are kept and only reported.
        topic_labels: Topic code -> readable name for the explanations.
        progress: Called as ``progress(stage, done, total)`` during scoring and solving.

    Returns:
        The result with tandems, unmatched people, optimality, counts and timings.

    Raises:
        MatchInputError: On duplicate ids, wrong roles or invalid locks.
        MatchError: If a solver fails.
    """
    settings = settings or MatchSettings()
    report = progress or _noop
    _check_people(mentors, mentees, peers=settings.format == "bidirectional")
    if settings.format == "one_to_one":
        return _OneToOne(mentors, mentees, settings, topic_labels or {}, report).run(
            locked, release_broken_locks
        )
    from plugin.matching.cohort import match_cohort

    return match_cohort(
        mentors,
        mentees,
        settings,
        locked=locked,
        release_broken_locks=release_broken_locks,
        topic_labels=topic_labels or {},
        progress=report,
    )


def _check_people(
    mentors: Sequence[Candidate], mentees: Sequence[Candidate], *, peers: bool
) -> None:
    seen: set[str] = set()
    for side, people, role in (("mentors", mentors, "mentor"), ("mentees", mentees, "mentee")):
        for i, person in enumerate(people):
            if not isinstance(person, Candidate):
                raise MatchInputError(
                    N_("%(side)s[%(index)s]: must be a Candidate"), field=side, side=side, index=i
                )
            if person.id in seen:
                raise MatchInputError(
                    N_("%(side)s[%(index)s].id: duplicate id %(id)s"),
                    field=side,
                    side=side,
                    index=i,
                    id=repr(person.id),
                )
            seen.add(person.id)
            if not peers and person.role != role:
                raise MatchInputError(
                    N_("%(side)s[%(index)s].role: expected %(expected)s, got %(actual)s"),
                    field=side,
                    side=side,
                    index=i,
                    expected=repr(role),
                    actual=repr(person.role),
                )


def check_locks(
    locked: Sequence[LockedTandem],
    people: Mapping[str, Candidate],
    settings: MatchSettings,
    *,
    release: bool,
) -> tuple[list[LockedTandem], list[BrokenLock]]:
    """Validate locks and re-check them against the hard rules.

    Args:
        locked: The locks.
        people: Every candidate by id.
        settings: Rules.
        release: Whether broken locks are released.

    Returns:
        ``(kept locks, broken locks)``.

    Raises:
        MatchInputError: On unknown ids, people in two locks or roles on the wrong side.
    """
    peers = settings.format == "bidirectional"
    used: set[str] = set()
    kept: list[LockedTandem] = []
    broken: list[BrokenLock] = []
    for i, lock in enumerate(locked):
        for side, ids in (("mentor_ids", lock.mentor_ids), ("mentee_ids", lock.mentee_ids)):
            for pid in ids:
                person = people.get(pid)
                if person is None:
                    raise MatchInputError(
                        N_("locked[%(index)s].%(side)s: unknown id %(id)s"),
                        field="locked",
                        index=i,
                        side=side,
                        id=repr(pid),
                    )
                if pid in used:
                    raise MatchInputError(
                        N_("locked[%(index)s].%(side)s: %(id)s is in more than one lock"),
                        field="locked",
                        index=i,
                        side=side,
                        id=repr(pid),
                    )
                if not peers and person.role != side[:-4]:
                    raise MatchInputError(
                        N_("locked[%(index)s].%(side)s: %(id)s is a %(role)s"),
                        field="locked",
                        index=i,
                        side=side,
                        id=repr(pid),
                        role=word(person.role),
                    )
                used.add(pid)
        violations: list[LockViolation] = []
        for m_id in lock.mentor_ids:
            for s_id in lock.mentee_ids:
                mentor, mentee = people[m_id], people[s_id]
                for rule in pair_violations(mentor, mentee, settings.rules, peers=peers):
                    text = explain_violation(rule, mentor.name, mentee.name)
                    violations.append(LockViolation(m_id, s_id, rule, text))
        if violations:
            broken.append(BrokenLock(lock, tuple(violations), released=release))
            if release:
                continue
        kept.append(lock)
    return kept, broken


def breakdown(
    mentor: Candidate, mentee: Candidate, settings: MatchSettings, *, peers: bool = False
) -> PairBreakdown:
    """Score and factors of one pair.

    Args:
        mentor: The teacher.
        mentee: The learner.
        settings: Weights.
        peers: Bidirectional mode.

    Returns:
        The breakdown.
    """
    factors = pair_factors(mentor, mentee, settings, peers=peers)
    score = sum(f.contribution for f in factors)
    return PairBreakdown(mentor.id, mentee.id, score, factors)


@dataclass
class _Arcs:
    """The pruned candidate graph (one entry per kept pair)."""

    row: I32
    col: I32
    score: F32


def _top_per_group(group: I64, other: I64, val: F32, k: int) -> tuple[I64, I64, F32, Bool]:
    """Sort entries by (group, value desc); mark the first ``k`` of each group."""
    order = np.lexsort((-val, group))
    group, other, val = group[order], other[order], val[order]
    rank = np.arange(len(group)) - np.searchsorted(group, group)
    return group, other, val, rank < k


def _row_top(vals: F32, k: int) -> tuple[I64, I64, F32, F32]:
    """Per row the ``k`` best finite entries and the (k+1)-th value (-inf when none).

    A threshold from a strided sample of the columns selects ~2k candidates per row in one
    cheap pass; rows where the sample is too thin fall back to ``argpartition``.
    """
    b, n = vals.shape
    if k >= n:
        li, cj = np.nonzero(np.isfinite(vals))
        return li, cj, vals[li, cj], np.full(b, -np.inf, dtype=np.float32)
    step = max(1, min(16, n // (8 * (k + 1))))
    sample = vals[:, ::step]
    q = min(sample.shape[1] - 1, max(1, (2 * (k + 1)) // step))
    thr = -np.partition(-sample, q, axis=1)[:, q]
    take = vals >= thr[:, None]
    counts = take.sum(axis=1)
    ok = np.isfinite(thr) & (counts > k)
    take[~ok] = False
    li, cj = np.nonzero(take)
    cv = vals[li, cj]
    slow = np.flatnonzero(~ok)
    if len(slow):
        sub = vals[slow]
        part = np.argpartition(-sub, k, axis=1)[:, : k + 1]
        pv = np.take_along_axis(sub, part, axis=1)
        fin = np.isfinite(pv)
        li = np.concatenate([li, np.broadcast_to(slow[:, None], part.shape)[fin]])
        cj = np.concatenate([cj, part[fin]])
        cv = np.concatenate([cv, pv[fin]])
    li, cj, cv, first = _top_per_group(li.astype(np.int64), cj.astype(np.int64), cv, k + 1)
    li, cj, cv = li[first], cj[first], cv[first]
    rank = np.arange(len(li)) - np.searchsorted(li, li)
    bound = np.full(b, -np.inf, dtype=np.float32)
    at_k = rank == k
    bound[li[at_k]] = cv[at_k]
    keep = rank < k
    return li[keep], cj[keep], cv[keep], bound


class _ColumnTops:
    """Running ``kc`` best rows per column, fed block by block.

    Entries below a column's current ``kc``-th best can never enter, so each block only
    contributes the few entries above the running thresholds.
    """

    def __init__(self, n_cols: int, kc: int) -> None:
        self.n_cols, self.kc = n_cols, kc
        self.thr = np.full(n_cols, -np.inf, dtype=np.float32)
        self.col: list[I64] = []
        self.row: list[I64] = []
        self.val: list[F32] = []
        self.size = 0

    def add(self, vals: F32, rows: I64) -> None:
        take = vals > self.thr[None, :]
        bi, bj = np.nonzero(take)
        fin = np.isfinite(vals[bi, bj])
        bi, bj = bi[fin], bj[fin]
        self.col.append(bj.astype(np.int64))
        self.row.append(rows[bi])
        self.val.append(vals[bi, bj])
        self.size += len(bi)
        if self.size > 4 * self.kc * self.n_cols:
            self._compact()

    def _compact(self) -> None:
        if not self.col:
            self.col, self.row = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
            self.val = [np.zeros(0, dtype=np.float32)]
        col, row, val = np.concatenate(self.col), np.concatenate(self.row), np.concatenate(self.val)
        col, row, val, first = _top_per_group(col, row, val, self.kc)
        col, row, val = col[first], row[first], val[first]
        rank = np.arange(len(col)) - np.searchsorted(col, col)
        last = rank == self.kc - 1
        self.thr[col[last]] = val[last]
        self.col, self.row, self.val = [col], [row], [val]
        self.size = len(col)

    def result(self) -> tuple[I64, I64, F32]:
        self._compact()
        return self.row[0], self.col[0], self.val[0]


def _merge(row: I64, col: I64, score: F32) -> _Arcs:
    """Deduplicated arcs sorted by (row, col)."""
    keys, first = np.unique(row * (1 << 32) + col, return_index=True)
    return _Arcs(
        row=(keys >> 32).astype(np.int32),
        col=(keys & 0xFFFFFFFF).astype(np.int32),
        score=score[first].astype(np.float32),
    )


class _OneToOne:
    """One-to-one run; see the module docstring."""

    def __init__(
        self,
        mentors: Sequence[Candidate],
        mentees: Sequence[Candidate],
        settings: MatchSettings,
        topic_labels: Mapping[str, str],
        progress: Progress,
    ) -> None:
        self.mentors = list(mentors)
        self.all_mentees = list(mentees)
        self.settings = settings
        self.labels = topic_labels
        self.progress = progress
        self.timings: dict[str, float] = {}
        self.most = settings.objective == "most_matched"

    def _tick(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - started
        return now

    def run(self, locked: Sequence[LockedTandem], release: bool) -> MatchResult:
        t = time.perf_counter()
        people = {c.id: c for c in (*self.mentors, *self.all_mentees)}
        kept_locks, broken = check_locks(locked, people, self.settings, release=release)
        locked_load: dict[str, int] = {}
        locked_mentees: set[str] = set()
        for i, lock in enumerate(kept_locks):
            if len(lock.mentor_ids) != 1:
                raise MatchInputError(
                    N_("locked[%(index)s].mentor_ids: one_to_one locks have exactly one mentor"),
                    field="locked",
                    index=i,
                )
            m_id = lock.mentor_ids[0]
            locked_load[m_id] = locked_load.get(m_id, 0) + len(lock.mentee_ids)
            if locked_load[m_id] > people[m_id].capacity:
                raise MatchInputError(
                    N_(
                        "locked[%(index)s]: mentor %(mentor)s is locked to more mentees than "
                        "their capacity (%(capacity)s)"
                    ),
                    field="locked",
                    index=i,
                    mentor=repr(m_id),
                    capacity=people[m_id].capacity,
                )
            locked_mentees.update(lock.mentee_ids)
        self.mentees = [c for c in self.all_mentees if c.id not in locked_mentees]
        self.caps = np.array(
            [m.capacity - locked_load.get(m.id, 0) for m in self.mentors], dtype=np.int64
        )
        self.locked_load = locked_load
        self.enc = encode(self.mentees, self.mentors)
        t = self._tick("encode", t)
        arcs, row_bound = self._score()
        t = self._tick("score", t)
        taken, optimal, gap, arcs = self._solve(arcs, row_bound)
        t = self._tick("solve", t)
        result = self._build(arcs, taken, optimal, gap, kept_locks, broken)
        self._tick("explain", t)
        return replace(result, timings=dict(self.timings))

    # -- scoring and pruning -------------------------------------------------------------

    def _usable(self, scores: F32, feasible: Bool) -> Bool:
        if self.most:
            return feasible
        # A superset of "rounds to a weight > 0"; pairs rounding to 0 are ignored later.
        usable: Bool = feasible & (scores > _POSITIVE)
        return usable

    def _score(self) -> tuple[_Arcs, I64]:
        """One pass over all pairs: global rule counts, top-k per row and per column."""
        s, enc = self.settings, self.enc
        n_r, n_c = enc.n_rows, enc.n_cols
        k = min(s.top_k, n_c)
        max_cap = int(self.caps.max()) if n_c else 0
        kc = min(s.top_k_per_mentor or 2 * max_cap + 8, n_r)
        self.rule_totals = np.zeros(len(RULE_ORDER), dtype=np.int64)
        self.feasible_total = 0
        row_bound = np.full(n_r, _NO_BOUND, dtype=np.int64)
        cols_top = _ColumnTops(n_c, kc)
        parts_r: list[I64] = []
        parts_c: list[I64] = []
        parts_s: list[F32] = []
        n_blocks = max(1, -(-n_r // s.block_rows))
        for b, r0 in enumerate(range(0, n_r, s.block_rows)):
            rows = np.arange(r0, min(n_r, r0 + s.block_rows), dtype=np.int64)
            blk = score_block(enc, s, rows)
            self.rule_totals += blk.rule_counts
            self.feasible_total += int(np.count_nonzero(blk.feasible))
            vals = blk.scores
            np.copyto(vals, np.float32(-np.inf), where=~self._usable(vals, blk.feasible))
            li, cj, cv, bound = _row_top(vals, k)
            has = np.isfinite(bound)
            row_bound[rows[has]] = to_cost(bound[has])
            parts_r.append(rows[li])
            parts_c.append(cj)
            parts_s.append(cv)
            cols_top.add(vals, rows)
            self.progress("score", b + 1, n_blocks)
        cr, cc, cs = cols_top.result()
        parts_r.append(cr)
        parts_c.append(cc)
        parts_s.append(cs)
        arcs = _merge(np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_s))
        return arcs, row_bound

    # -- solving and pricing ---------------------------------------------------------------

    def _solve(self, arcs: _Arcs, row_bound: I64) -> tuple[Bool, bool, float | None, _Arcs]:
        """Solve, then price pruned pairs against the duals until none violates them.

        Per row we keep ``bound[s]`` >= ``W'(m, s) - vref[m]`` for every pruned ``m``, where
        ``vref`` are the mentor duals of the pass that last re-scored the row (zeros at
        first). With new duals ``v``, a pruned pair can only violate if
        ``bound[s] + (vref[m] - v[m]) > u[s]``. Mentors whose dual dropped most are checked
        exactly by column; for the others the drop is bounded by ``tau``; only rows failing
        ``bound[s] + tau <= u[s]`` are re-scored.
        """
        s, enc = self.settings, self.enc
        n_r, n_c = enc.n_rows, enc.n_cols
        max_abs = sum(s.weights.weight(f) for f in Factor)
        m = big_m(to_cost([max_abs]), min(n_r, int(self.caps.sum()))) if self.most else 0
        bound = np.where(row_bound == _NO_BOUND, _NO_BOUND, row_bound + m)
        vrefs: list[I64] = [np.zeros(n_c, dtype=np.int64)]
        pass_of = np.zeros(n_r, dtype=np.int64)
        self.rounds = 0
        while True:
            self.rounds += 1
            self.arcs = arcs
            self.progress("solve", self.rounds, s.max_pricing_rounds)
            weights = to_cost(arcs.score)
            sol = solve_flow(
                capacities=self.caps,
                n_mentees=n_r,
                arc_mentee=arcs.row,
                arc_mentor=arcs.col,
                weights=weights,
                objective=s.objective,
            )
            taken = sol.taken
            use = np.ones(len(weights), dtype=bool) if self.most else weights > 0
            u, v = flow_duals(
                capacities=self.caps,
                n_mentees=n_r,
                arc_mentee=arcs.row[use],
                arc_mentor=arcs.col[use],
                weights=weights[use] + m,
                taken=taken[use],
            )
            # Exact column check for the mentors whose dual dropped most.
            drop = np.max(np.stack([vr - v for vr in vrefs]), axis=0)
            n_exact = min(n_c, _EXACT_COLS)
            cols = np.argsort(-drop, kind="stable")[:n_exact]
            cols = np.sort(cols[drop[cols] > 0])
            rest = np.ones(n_c, dtype=bool)
            rest[cols] = False
            tau = np.array([max(0, int((vr - v)[rest].max())) if rest.any() else 0 for vr in vrefs])
            live = bound != _NO_BOUND
            suspects = np.flatnonzero(live & (bound + tau[pass_of] > u))
            add, excess = self._price_cols(cols, u, v, m)
            add_rows, excess_rows = self._price_rows(suspects, u, v, m, bound)
            excess = np.maximum(excess, excess_rows)
            vrefs.append(v)
            pass_of[suspects] = len(vrefs) - 1
            add = add + add_rows
            if not excess.any():
                return taken, True, 0.0, arcs
            if self.rounds >= s.max_pricing_rounds:
                break
            arcs = _merge(
                np.concatenate([arcs.row.astype(np.int64), *[a[0] for a in add]]),
                np.concatenate([arcs.col.astype(np.int64), *[a[1] for a in add]]),
                np.concatenate([arcs.score, *[a[2] for a in add]]),
            )
        # Out of rounds: raising u by each mentee's largest violation makes the duals
        # feasible for the full instance, so this is a valid upper bound.
        primal = int(to_cost(arcs.score)[taken].sum()) + m * int(taken.sum())
        upper = int(u.sum()) + int(excess.sum()) + int((self.caps * v).sum())
        gap_w = max(0, upper - primal)
        gap = None if self.most and gap_w >= m else gap_w / SCALE
        return taken, False, gap, arcs

    def _price_cols(
        self, cols: I64, u: I64, v: I64, m: int
    ) -> tuple[list[tuple[I64, I64, F32]], I64]:
        """All rows against a few mentors: pairs violating the duals."""
        s = self.settings
        excess = np.zeros(self.enc.n_rows, dtype=np.int64)
        if len(cols) == 0:
            return [], excess
        sub = self.enc.take_cols(cols)
        out: list[tuple[I64, I64, F32]] = []
        for r0 in range(0, sub.n_rows, s.block_rows * 8):
            rows = np.arange(r0, min(sub.n_rows, r0 + s.block_rows * 8), dtype=np.int64)
            blk = score_block(sub, s, rows)
            usable = self._usable(blk.scores, blk.feasible)
            slack = to_cost(blk.scores) + m - u[rows, None] - v[None, cols]
            bi, bj = np.nonzero(usable & (slack > 0))
            if len(bi):
                np.maximum.at(excess, rows[bi], slack[bi, bj])
                out.append((rows[bi], cols[bj], blk.scores[bi, bj]))
        return out, excess

    def _price_rows(
        self, suspects: I64, u: I64, v: I64, m: int, bound: I64
    ) -> tuple[list[tuple[I64, I64, F32]], I64]:
        """Re-score suspect rows in full; return violating pairs and tighten ``bound``."""
        s = self.settings
        excess = np.zeros(self.enc.n_rows, dtype=np.int64)
        out: list[tuple[I64, I64, F32]] = []
        n_blocks = max(1, -(-len(suspects) // s.block_rows))
        for b, i0 in enumerate(range(0, len(suspects), s.block_rows)):
            rows = suspects[i0 : i0 + s.block_rows]
            blk = score_block(self.enc, s, rows)
            usable = self._usable(blk.scores, blk.feasible)
            # Kept pairs satisfy the duals already, so any violation is a pruned pair.
            reduced = to_cost(blk.scores) + m - v[None, :]
            slack = reduced - u[rows, None]
            # Violating pairs, and nearly violating ones (they tend to violate next round,
            # so adding them now saves solves).
            bi, bj = np.nonzero(usable & (slack > -_NEAR))
            if len(bi):
                sl = slack[bi, bj]
                viol = sl > 0
                np.maximum.at(excess, rows[bi[viol]], sl[viol])
                order = np.lexsort((-sl, bi))
                bi, bj, sl = bi[order], bj[order], sl[order]
                rank = np.arange(len(bi)) - np.searchsorted(bi, bi)
                keep = (rank < s.top_k) & ((sl > 0) | (rank < _NEAR_PER_ROW))
                bi, bj = bi[keep], bj[keep]
                out.append((rows[bi], bj.astype(np.int64), blk.scores[bi, bj]))
                usable[bi, bj] = False
            # The new bound (relative to v): best reduced weight of a still-pruned pair.
            usable[self._kept_mask(rows)] = False
            left = np.where(usable, reduced, _NO_BOUND).max(axis=1)
            bound[rows] = left
            self.progress("price", b + 1, n_blocks)
        return out, excess

    def _kept_mask(self, rows: I64) -> tuple[I64, I64]:
        arcs = self.arcs
        lo = np.searchsorted(arcs.row, rows, side="left")
        hi = np.searchsorted(arcs.row, rows, side="right")
        counts = hi - lo
        idx = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        return np.repeat(np.arange(len(rows)), counts), arcs.col[idx].astype(np.int64)

    # -- result ----------------------------------------------------------------------------

    def _build(
        self,
        arcs: _Arcs,
        taken: Bool,
        optimal: bool,
        gap: float | None,
        kept_locks: list[LockedTandem],
        broken: list[BrokenLock],
    ) -> MatchResult:
        s = self.settings
        people = {c.id: c for c in (*self.mentors, *self.all_mentees)}
        tandems: list[Tandem] = []
        for lock in kept_locks:
            mentor = people[lock.mentor_ids[0]]
            for s_id in lock.mentee_ids:
                tandems.append(self._tandem(mentor, people[s_id], locked=True))
        chosen = np.flatnonzero(taken)
        chosen = chosen[np.argsort(arcs.row[chosen], kind="stable")]
        step = max(1, len(chosen) // 20)
        for i, a in enumerate(chosen):
            tandems.append(self._tandem(self.mentors[arcs.col[a]], self.mentees[arcs.row[a]]))
            if (i + 1) % step == 0 or i + 1 == len(chosen):
                self.progress("explain", i + 1, len(chosen))
        load = np.bincount(arcs.col[taken], minlength=len(self.mentors))
        matched_r = np.zeros(len(self.mentees), dtype=bool)
        matched_r[arcs.row[taken]] = True
        full = load >= self.caps
        usable_kept = np.ones(len(arcs.row), dtype=bool)
        if not self.most:
            usable_kept = to_cost(arcs.score) > 0
        # Without a proof, tell "capacity" from "not selected" by the kept pairs.
        open_for = np.zeros(len(self.mentees), dtype=bool)
        np.logical_or.at(open_for, arcs.row[usable_kept], ~full[arcs.col[usable_kept]])
        row_open = np.zeros(len(self.mentors), dtype=bool)
        np.logical_or.at(row_open, arcs.col[usable_kept], ~matched_r[arcs.row[usable_kept]])
        unmatched: list[UnmatchedPerson] = []
        rows_u = np.flatnonzero(~matched_r)
        for row_i, counts in zip(rows_u, self._row_tallies(rows_u), strict=True):
            i = int(row_i)
            reason = self._reason(counts, optimal or not open_for[i], UnmatchedReason.CAPACITY)
            if reason is UnmatchedReason.CAPACITY:
                counts["at_capacity"] = counts["feasible" if self.most else "positive"]
            unmatched.append(
                UnmatchedPerson(
                    person_id=self.mentees[i].id,
                    role="mentee",
                    reason=reason,
                    counts=counts,
                    explanation=explain_unmatched(reason, counts, role="mentee"),
                )
            )
        cols_u = np.array(
            [
                j
                for j, mentor in enumerate(self.mentors)
                if load[j] == 0 and self.locked_load.get(mentor.id, 0) == 0 and mentor.capacity
            ],
            dtype=np.int64,
        )
        for col_j, counts in zip(cols_u, self._col_tallies(cols_u), strict=True):
            j = int(col_j)
            reason = self._reason(
                counts, optimal or not row_open[j], UnmatchedReason.PARTNERS_TAKEN
            )
            unmatched.append(
                UnmatchedPerson(
                    person_id=self.mentors[j].id,
                    role="mentor",
                    reason=reason,
                    counts=counts,
                    explanation=explain_unmatched(reason, counts, role="mentor"),
                    spare_capacity=int(self.caps[j]),
                )
            )
        stats = MatchStats(
            mentors=len(self.mentors),
            mentees=len(self.all_mentees),
            pairs_considered=len(self.mentees) * len(self.mentors),
            feasible_pairs=self.feasible_total,
            solver_pairs=len(arcs.row),
            pruned_pairs=max(0, self.feasible_total - len(arcs.row)),
            pricing_rounds=self.rounds,
            removed_by_rule={
                rule.value: int(self.rule_totals[k]) for k, rule in enumerate(RULE_ORDER)
            },
        )
        return MatchResult(
            format=s.format,
            objective=s.objective,
            tandems=tuple(tandems),
            unmatched=tuple(unmatched),
            total_score=float(sum(t.score for t in tandems)),
            matched_mentees=len(tandems),
            optimal=optimal,
            gap=gap,
            solver="ortools.min_cost_flow+lp_pricing",
            stats=stats,
            timings=dict(self.timings),
            broken_locks=tuple(broken),
        )

    def _tallies(self, enc: Encoded, rows: I64, axis: int) -> tuple[I64, I64, I64]:
        """Per-rule, feasible and positive counts, summed over ``axis`` of the blocks."""
        s = self.settings
        other = enc.n_cols if axis == 1 else enc.n_rows
        size = len(rows) if axis == 1 else enc.n_cols
        rules = np.zeros((size, len(RULE_ORDER)), dtype=np.int64)
        feas = np.zeros(size, dtype=np.int64)
        pos = np.zeros(size, dtype=np.int64)
        del other
        block_rows = rows if axis == 1 else np.arange(enc.n_rows, dtype=np.int64)
        for i0 in range(0, len(block_rows), s.block_rows):
            part = block_rows[i0 : i0 + s.block_rows]
            blk = score_block(enc, s, part, with_rules=True)
            assert blk.removed is not None  # noqa: S101 - asked for with_rules
            positive = blk.feasible & (blk.scores > _POSITIVE)
            if axis == 1:
                sl = slice(i0, i0 + len(part))
                rules[sl] = blk.removed.sum(axis=2).T
                feas[sl] = blk.feasible.sum(axis=1)
                pos[sl] = positive.sum(axis=1)
            else:
                rules += blk.removed.sum(axis=1).T
                feas += blk.feasible.sum(axis=0)
                pos += positive.sum(axis=0)
        return rules, feas, pos

    def _counts(self, candidates: int, rules: I64, feas: I64, pos: I64) -> list[dict[str, int]]:
        out = []
        for i in range(len(feas)):
            counts = {"candidates": candidates, "feasible": int(feas[i]), "positive": int(pos[i])}
            counts.update({r.value: int(rules[i, k]) for k, r in enumerate(RULE_ORDER)})
            out.append(counts)
        return out

    def _row_tallies(self, rows: I64) -> list[dict[str, int]]:
        """Counts for unmatched mentees (their rows re-scored with rule masks)."""
        if len(rows) == 0:
            return []
        return self._counts(self.enc.n_cols, *self._tallies(self.enc, rows, axis=1))

    def _col_tallies(self, cols: I64) -> list[dict[str, int]]:
        """Counts for unmatched mentors (their columns re-scored against every mentee)."""
        if len(cols) == 0:
            return []
        sub = self.enc.take_cols(cols)
        return self._counts(self.enc.n_rows, *self._tallies(sub, cols, axis=0))

    def _reason(
        self, counts: Mapping[str, int], settled: bool, otherwise: UnmatchedReason
    ) -> UnmatchedReason:
        if counts["feasible"] == 0:
            return UnmatchedReason.NO_CANDIDATES
        if not self.most and counts["positive"] == 0:
            return UnmatchedReason.ONLY_NEGATIVE
        return otherwise if settled else UnmatchedReason.NOT_SELECTED

    def _tandem(self, mentor: Candidate, mentee: Candidate, *, locked: bool = False) -> Tandem:
        pair = breakdown(mentor, mentee, self.settings)
        return Tandem(
            mentor_ids=(mentor.id,),
            mentee_ids=(mentee.id,),
            score=pair.score,
            pairs=(pair,),
            explanation=explain_factors(pair.factors, topic_labels=self.labels),
            locked=locked,
        )


def rule_of(value: str) -> Rule:
    """The :class:`Rule` with this value (for callers reading stored counts).

    Args:
        value: A rule value such as ``management_chain``.

    Returns:
        The rule.
    """
    return Rule(value)
