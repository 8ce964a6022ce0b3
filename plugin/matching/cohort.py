"""Group and bidirectional formats: exact CP-SAT models for cohorts (hundreds of people).

Group (1–2 seniors with 3–4 juniors, from the settings). Every senior–junior pair inside a
group must pass the hard rules; two seniors (or two juniors) of one group must not be in one
management chain, on each other's avoid list or in different organizations. The value of a
group is the sum of its senior–junior pair scores. Model: each senior ``t`` may *anchor* a
group (``open[t]``); a second senior ``s > t`` may join it (``y[s, t]``); junior ``j`` joins
it (``x[j, t]``); ``z[s, j, t] = y[s, t] AND x[j, t]`` carries the second senior's pair score.
Anchoring at the lower index removes symmetry. ``best_total`` maximises the total score;
``most_matched`` first maximises the number of people placed, then (second solve, count
fixed) the score.

Bidirectional (peer pairs, both teach): the pair score is the mean of both directions,
``(s(a teaches b) + s(b teaches a)) / 2``; the model is a maximum-weight matching with one
boolean per feasible pair.

Optimality is reported as CP-SAT proves it. If the model had to be pruned to stay within
``max_model_pairs`` it is never claimed, and the gap is measured against a bound valid for
the full instance (each junior contributes at most its best ``max seniors`` pair scores;
each peer at most half its best pair score).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from plugin.errors import N_
from plugin.matching.errors import MatchError
from plugin.matching.explain import explain_factors, explain_unmatched
from plugin.matching.pipeline import Progress, breakdown, check_locks
from plugin.matching.records import (
    Candidate,
    LockedTandem,
    MatchResult,
    MatchSettings,
    MatchStats,
    PairBreakdown,
    Tandem,
    UnmatchedPerson,
    UnmatchedReason,
)
from plugin.matching.scoring import RULE_ORDER, encode, score_block
from plugin.matching.solver import SCALE, to_cost

__all__ = ["match_cohort"]

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


def _conflict(a: Candidate, b: Candidate) -> bool:
    """Two people of the same role who must not share a group."""
    return (
        a.org_id != b.org_id
        or a.id in b.avoid
        or b.id in a.avoid
        or a.id in b.chain
        or b.id in a.chain
    )


@dataclass
class _Dense:
    """Dense scores and tallies of a small instance (rows learn from columns)."""

    scores: F64
    feasible: Bool
    rules_r: npt.NDArray[np.int64]
    rules_c: npt.NDArray[np.int64]


def _dense(
    rows: Sequence[Candidate], cols: Sequence[Candidate], s: MatchSettings, peers: bool
) -> _Dense:
    enc = encode(rows, cols, peers=peers)
    n_r, n_c = len(rows), len(cols)
    scores = np.zeros((n_r, n_c))
    feasible = np.zeros((n_r, n_c), dtype=bool)
    rules_r = np.zeros((n_r, len(RULE_ORDER)), dtype=np.int64)
    rules_c = np.zeros((n_c, len(RULE_ORDER)), dtype=np.int64)
    for r0 in range(0, n_r, s.block_rows):
        idx = np.arange(r0, min(n_r, r0 + s.block_rows), dtype=np.int64)
        blk = score_block(enc, s, idx, with_rules=True)
        assert blk.removed is not None  # noqa: S101 - asked for with_rules
        scores[idx] = blk.scores
        feasible[idx] = blk.feasible
        rules_r[idx] = blk.removed.sum(axis=2).T
        rules_c += blk.removed.sum(axis=1).T
    return _Dense(scores, feasible, rules_r, rules_c)


def _solve(model: cp_model.CpModel, settings: MatchSettings) -> tuple[cp_model.CpSolver, Any]:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = settings.time_limit_seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise MatchError(
            N_("CP-SAT found no plan (status %(status)s)"), status=solver.status_name(status)
        )
    return solver, status


def _lexicographic(
    model: cp_model.CpModel,
    count: Any,
    score: Any,
    settings: MatchSettings,
) -> tuple[cp_model.CpSolver, bool, float]:
    """Maximise score (best_total) or count then score (most_matched).

    Returns:
        ``(solver, proven optimal, objective bound in weight units)``.
    """
    if settings.objective == "most_matched":
        model.maximize(count)
        solver, status = _solve(model, settings)
        first_optimal = status == cp_model.OPTIMAL
        best = round(solver.objective_value)
        model.clear_objective()  # type: ignore[no-untyped-call]
        model.add(count >= best)
        model.maximize(score)
        solver, status = _solve(model, settings)
        optimal = first_optimal and status == cp_model.OPTIMAL
        return solver, optimal, solver.best_objective_bound
    model.maximize(score)
    solver, status = _solve(model, settings)
    return solver, status == cp_model.OPTIMAL, solver.best_objective_bound


def match_cohort(
    mentors: Sequence[Candidate],
    mentees: Sequence[Candidate],
    settings: MatchSettings,
    *,
    locked: Sequence[LockedTandem],
    release_broken_locks: bool,
    topic_labels: Mapping[str, str],
    progress: Progress,
) -> MatchResult:
    """Run the group or bidirectional format (see the module docstring).

    Args:
        mentors: Juniors (bidirectional: part of the peer pool).
        mentees: Seniors (bidirectional: part of the peer pool).
        settings: Settings with ``format`` ``group`` or ``bidirectional``.
        locked: Locks to keep.
        release_broken_locks: Release locks that break a hard rule.
        topic_labels: Topic code -> label.
        progress: Progress callback.

    Returns:
        The result.
    """
    t0 = time.perf_counter()
    people = {c.id: c for c in (*mentors, *mentees)}
    kept, broken = check_locks(locked, people, settings, release=release_broken_locks)
    locked_ids = {pid for lock in kept for pid in (*lock.mentor_ids, *lock.mentee_ids)}
    run: _GroupRun | _PeerRun
    if settings.format == "group":
        run = _GroupRun(
            [c for c in mentees if c.id not in locked_ids],
            [c for c in mentors if c.id not in locked_ids],
            settings,
            topic_labels,
        )
    else:
        pool = [c for c in (*mentors, *mentees) if c.id not in locked_ids]
        run = _PeerRun(pool, settings, topic_labels)
    timings = {"encode": 0.0, "score": time.perf_counter() - t0}
    progress("solve", 0, 1)
    t1 = time.perf_counter()
    new_tandems, optimal, gap = run.solve()
    timings["solve"] = time.perf_counter() - t1
    progress("solve", 1, 1)
    t2 = time.perf_counter()
    tandems = [run.locked_tandem(lock, people) for lock in kept] + new_tandems
    unmatched = run.unmatched(new_tandems, optimal)
    timings["explain"] = time.perf_counter() - t2
    return MatchResult(
        format=settings.format,
        objective=settings.objective,
        tandems=tuple(tandems),
        unmatched=tuple(unmatched),
        total_score=float(sum(t.score for t in tandems)),
        matched_mentees=sum(
            len(t.mentee_ids) + (len(t.mentor_ids) if settings.format == "bidirectional" else 0)
            for t in tandems
        ),
        optimal=optimal,
        gap=gap,
        solver="ortools.cp_sat",
        stats=run.stats(len(mentors), len(mentees)),
        timings=timings,
        broken_locks=tuple(broken),
    )


class _Run:
    """Shared parts of the cohort runs."""

    settings: MatchSettings
    labels: Mapping[str, str]
    model_pairs: int
    pruned: int
    feasible_pairs: int
    considered: int
    removed: dict[str, int]

    def stats(self, n_mentors: int, n_mentees: int) -> MatchStats:
        peers = self.settings.format == "bidirectional"
        return MatchStats(
            mentors=n_mentors + (n_mentees if peers else 0),
            mentees=0 if peers else n_mentees,
            pairs_considered=self.considered,
            feasible_pairs=self.feasible_pairs,
            solver_pairs=self.model_pairs,
            pruned_pairs=self.pruned,
            pricing_rounds=0,
            removed_by_rule=self.removed,
        )

    def _unmatched(
        self,
        person: Candidate,
        counts: dict[str, int],
        settled: bool,
        otherwise: UnmatchedReason,
        role: str,
    ) -> UnmatchedPerson:
        if counts["feasible"] == 0:
            reason = UnmatchedReason.NO_CANDIDATES
        elif self.settings.objective == "best_total" and counts["positive"] == 0:
            reason = UnmatchedReason.ONLY_NEGATIVE
        else:
            reason = otherwise if settled else UnmatchedReason.NOT_SELECTED
        s = self.settings
        return UnmatchedPerson(
            person_id=person.id,
            role=person.role,
            reason=reason,
            counts=counts,
            explanation=explain_unmatched(
                reason, counts, role=role, group_shape=(s.seniors_per_group, s.juniors_per_group)
            ),
            spare_capacity=person.capacity if person.role == "mentor" else 0,
        )

    def _tandem(
        self,
        juniors: Sequence[Candidate],
        seniors: Sequence[Candidate],
        *,
        locked: bool,
    ) -> Tandem:
        peers = self.settings.format == "bidirectional"
        pairs: tuple[PairBreakdown, ...]
        if peers:
            a, b = juniors[0], seniors[0]
            pairs = (
                breakdown(a, b, self.settings, peers=True),
                breakdown(b, a, self.settings, peers=True),
            )
            score = (pairs[0].score + pairs[1].score) / 2
        else:
            pairs = tuple(breakdown(j, s, self.settings) for s in seniors for j in juniors)
            score = sum(p.score for p in pairs)
        factors = [f for p in pairs for f in p.factors]
        return Tandem(
            mentor_ids=tuple(j.id for j in juniors),
            mentee_ids=tuple(s.id for s in seniors),
            score=score,
            pairs=pairs,
            explanation=explain_factors(factors, topic_labels=self.labels),
            locked=locked,
        )

    def locked_tandem(self, lock: LockedTandem, people: Mapping[str, Candidate]) -> Tandem:
        return self._tandem(
            [people[i] for i in lock.mentor_ids],
            [people[i] for i in lock.mentee_ids],
            locked=True,
        )


def _counts(
    rules: npt.NDArray[np.int64], i: int, candidates: int, feas: int, pos: int
) -> dict[str, int]:
    out = {"candidates": candidates, "feasible": feas, "positive": pos}
    out.update({rule.value: int(rules[i, k]) for k, rule in enumerate(RULE_ORDER)})
    return out


class _GroupRun(_Run):
    def __init__(
        self,
        seniors: list[Candidate],
        juniors: list[Candidate],
        settings: MatchSettings,
        labels: Mapping[str, str],
    ) -> None:
        self.seniors, self.juniors = seniors, juniors
        self.settings, self.labels = settings, labels
        self.d = _dense(seniors, juniors, settings, peers=False)
        self.considered = len(seniors) * len(juniors)
        self.feasible_pairs = int(self.d.feasible.sum())
        self.removed = {
            rule.value: int(self.d.rules_r[:, k].sum()) for k, rule in enumerate(RULE_ORDER)
        }
        self.model_pairs = 0
        self.pruned = 0

    def solve(self) -> tuple[list[Tandem], bool, float | None]:
        s = self.settings
        (s_lo, s_hi), (j_lo, j_hi) = s.seniors_per_group, s.juniors_per_group
        n_s, n_j = len(self.seniors), len(self.juniors)
        feas, w = self.d.feasible, to_cost(self.d.scores)
        pos = feas & (w > 0)
        # Negative pairs stay allowed: completing a group may be worth one weak pair.
        allowed = feas
        co_ok = np.array(
            [
                [a != b and not _conflict(self.seniors[a], self.seniors[b]) for b in range(n_s)]
                for a in range(n_s)
            ],
            dtype=bool,
        ).reshape(n_s, n_s)
        # Candidate juniors per anchor: all, unless the model would be too large.
        cand = [np.flatnonzero(allowed[t]) for t in range(n_s)]
        joiners: list[list[int]] = [
            [a for a in range(t + 1, n_s) if co_ok[a, t]] if s_hi == 2 else [] for t in range(n_s)
        ]
        limit = s.max_model_pairs
        k = max(len(c) for c in cand) if cand else 0

        def size(k: int) -> int:
            total = 0
            for t in range(n_s):
                js = cand[t][np.argsort(-w[t, cand[t]], kind="stable")[:k]]
                total += len(js) * (1 + len(joiners[t]))
            return total

        while k > j_hi and size(k) > limit:
            k = max(j_hi, k * 2 // 3)
        pruned = False
        for t in range(n_s):
            order = cand[t][np.argsort(-w[t, cand[t]], kind="stable")]
            if len(order) > k:
                pruned = True
            cand[t] = np.sort(order[:k])
        model = cp_model.CpModel()
        open_ = [model.new_bool_var(f"open{t}") for t in range(n_s)]
        y: dict[tuple[int, int], cp_model.IntVar] = {}
        x: dict[tuple[int, int], cp_model.IntVar] = {}
        z_terms: list[tuple[cp_model.IntVar, int]] = []
        for t in range(n_s):
            for jv in cand[t]:
                x[int(jv), t] = model.new_bool_var(f"x{jv}_{t}")
            if len(cand[t]) < j_lo:
                model.add(open_[t] == 0)
            for a in joiners[t]:
                y[a, t] = model.new_bool_var(f"y{a}_{t}")
                model.add_implication(y[a, t], open_[t])
        for a in range(n_s):
            model.add(open_[a] + sum(y[a, t] for t in range(a) if (a, t) in y) <= 1)
        for t in range(n_s):
            ys = [y[a, t] for a in joiners[t]]
            if ys:
                model.add(sum(ys) <= (s_hi - 1) * open_[t])
            if s_lo == 2:
                model.add(sum(ys) >= open_[t])
            xs = [x[int(j), t] for j in cand[t]]
            model.add(sum(xs) >= j_lo * open_[t])
            model.add(sum(xs) <= j_hi * open_[t])
            for a in joiners[t]:
                for jv in cand[t]:
                    jj = int(jv)
                    if not feas[a, jj]:
                        model.add_bool_or([y[a, t].Not(), x[jj, t].Not()])
                    else:
                        z = model.new_bool_var(f"z{a}_{jj}_{t}")
                        model.add_implication(z, y[a, t])
                        model.add_implication(z, x[jj, t])
                        model.add_bool_or([z, y[a, t].Not(), x[jj, t].Not()])
                        z_terms.append((z, int(w[a, jj])))
        for j in range(n_j):
            xs = [x[j, t] for t in range(n_s) if (j, t) in x]
            if len(xs) > 1:
                model.add_at_most_one(xs)
        for j1 in range(n_j):
            for j2 in range(j1 + 1, n_j):
                if _conflict(self.juniors[j1], self.juniors[j2]):
                    for t in range(n_s):
                        if (j1, t) in x and (j2, t) in x:
                            model.add_bool_or([x[j1, t].Not(), x[j2, t].Not()])
        score = sum(int(w[t, j]) * v for (j, t), v in x.items()) + sum(c * z for z, c in z_terms)
        count = sum(open_) + sum(y.values()) + sum(x.values())
        self.model_pairs = len(x) + len(z_terms)
        self.pruned = int(pruned) * max(0, int(feas.sum()) - len(x))
        solver, optimal, bound = _lexicographic(model, count, score, s)
        groups: list[Tandem] = []
        self.placed: set[str] = set()
        for t in range(n_s):
            if not solver.boolean_value(open_[t]):
                continue
            seniors = [self.seniors[t]] + [
                self.seniors[a] for a in joiners[t] if solver.boolean_value(y[a, t])
            ]
            juniors = [self.juniors[j] for j in cand[t] if solver.boolean_value(x[int(j), t])]
            self.placed.update(p.id for p in (*seniors, *juniors))
            groups.append(self._tandem(juniors, seniors, locked=False))
        achieved = sum(round(g.score * SCALE) for g in groups)
        optimal = optimal and not pruned
        gap: float | None
        if optimal:
            gap = 0.0
        elif s.objective == "most_matched":
            gap = None
        elif pruned:
            wp = np.where(pos, w, 0)
            per_j = np.sort(wp, axis=0)[::-1][:s_hi].sum()
            per_s = np.sort(wp, axis=1)[:, ::-1][:, :j_hi].sum()
            gap = max(0.0, (min(per_j, per_s) - achieved) / SCALE)
        else:
            gap = max(0.0, (bound - achieved) / SCALE)
        self.optimal = optimal
        return groups, optimal, gap

    def unmatched(self, tandems: list[Tandem], optimal: bool) -> list[UnmatchedPerson]:
        feas, pos = self.d.feasible, self.d.feasible & (to_cost(self.d.scores) > 0)
        out: list[UnmatchedPerson] = []
        for i, person in enumerate(self.seniors):
            if person.id not in self.placed:
                counts = _counts(
                    self.d.rules_r, i, len(self.juniors), int(feas[i].sum()), int(pos[i].sum())
                )
                out.append(
                    self._unmatched(
                        person, counts, optimal, UnmatchedReason.GROUP_NOT_FORMED, "mentee"
                    )
                )
        for j, person in enumerate(self.juniors):
            if person.id not in self.placed:
                counts = _counts(
                    self.d.rules_c,
                    j,
                    len(self.seniors),
                    int(feas[:, j].sum()),
                    int(pos[:, j].sum()),
                )
                out.append(
                    self._unmatched(
                        person, counts, optimal, UnmatchedReason.GROUP_NOT_FORMED, "mentor"
                    )
                )
        return out


class _PeerRun(_Run):
    def __init__(
        self, pool: list[Candidate], settings: MatchSettings, labels: Mapping[str, str]
    ) -> None:
        self.pool, self.settings, self.labels = pool, settings, labels
        self.d = _dense(pool, pool, settings, peers=True)
        n = len(pool)
        self.pair = (self.d.scores + self.d.scores.T) / 2
        self.feas = self.d.feasible & self.d.feasible.T
        self.considered = n * (n - 1) // 2
        self.feasible_pairs = int(np.triu(self.feas, 1).sum())
        self.removed = {
            rule.value: int(self.d.rules_r[:, k].sum()) // 2 for k, rule in enumerate(RULE_ORDER)
        }
        self.model_pairs = 0
        self.pruned = 0

    def solve(self) -> tuple[list[Tandem], bool, float | None]:
        s = self.settings
        n = len(self.pool)
        w = to_cost(self.pair)
        allowed = self.feas if s.objective == "most_matched" else self.feas & (w > 0)
        a_idx, b_idx = np.nonzero(np.triu(allowed, 1))
        pruned = False
        if len(a_idx) > s.max_model_pairs:
            # Keep each person's best pairs until the model fits.
            k = max(1, (2 * s.max_model_pairs) // max(1, n))
            ranked = np.where(allowed, w.astype(np.float64), -np.inf)
            top = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
            keep = np.zeros_like(allowed)
            np.put_along_axis(keep, top, True, axis=1)
            keep &= allowed
            keep |= keep.T
            a_idx, b_idx = np.nonzero(np.triu(keep, 1))
            pruned = True
        model = cp_model.CpModel()
        x = [model.new_bool_var(f"p{a}_{b}") for a, b in zip(a_idx, b_idx, strict=True)]
        touching: list[list[cp_model.IntVar]] = [[] for _ in range(n)]
        for v, a, b in zip(x, a_idx, b_idx, strict=True):
            touching[a].append(v)
            touching[b].append(v)
        for vs in touching:
            if len(vs) > 1:
                model.add_at_most_one(vs)
        score = sum(int(w[a, b]) * v for v, a, b in zip(x, a_idx, b_idx, strict=True))
        count = sum(x)
        self.model_pairs = len(x)
        self.pruned = self.feasible_pairs - len(x) if pruned else 0
        upper = np.where(self.feas & (w > 0), w, 0).max(axis=1, initial=0).sum() / 2
        if not x:
            self.placed: set[str] = set()
            return [], not pruned, 0.0 if not pruned else float(upper) / SCALE
        solver, optimal, bound = _lexicographic(model, count, score, s)
        tandems: list[Tandem] = []
        self.placed = set()
        for v, a, b in zip(x, a_idx, b_idx, strict=True):
            if solver.boolean_value(v):
                pa, pb = self.pool[a], self.pool[b]
                self.placed.update((pa.id, pb.id))
                tandems.append(self._tandem([pa], [pb], locked=False))
        achieved = sum(
            int(w[a, b]) for v, a, b in zip(x, a_idx, b_idx, strict=True) if solver.boolean_value(v)
        )
        optimal = optimal and not pruned
        gap: float | None
        if optimal:
            gap = 0.0
        elif s.objective == "most_matched":
            gap = None
        elif pruned:
            gap = max(0.0, (float(upper) - achieved) / SCALE)
        else:
            gap = max(0.0, (bound - achieved) / SCALE)
        return tandems, optimal, gap

    def unmatched(self, tandems: list[Tandem], optimal: bool) -> list[UnmatchedPerson]:
        pos = self.feas & (to_cost(self.pair) > 0)
        out: list[UnmatchedPerson] = []
        for i, person in enumerate(self.pool):
            if person.id in self.placed:
                continue
            counts = _counts(
                self.d.rules_r, i, len(self.pool) - 1, int(self.feas[i].sum()), int(pos[i].sum())
            )
            out.append(
                self._unmatched(person, counts, optimal, UnmatchedReason.PARTNERS_TAKEN, "peer")
            )
        return out
