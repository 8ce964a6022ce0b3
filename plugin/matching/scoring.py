"""Pair scores and hard rules: vectorised (numpy, in row blocks) and scalar (for explanations).

The matrix view: rows are mentees (seniors, the learners), columns are mentors (juniors, the
teachers); ``score[r, c]`` is how good mentor ``c`` is for mentee ``r``. Candidates are encoded
once into integer/bit arrays (organizations, departments, grades, time zones, language bit
sets, topic matrices) and sparse pair lists (management chains, avoid, prefer, previous
partners), then scored ``block_rows`` rows at a time so memory stays
``O(block_rows * mentors)`` however many pairs there are.

Factor values, all in [0, 1] (the score is ``sum(weight * value)``, previous pairing
subtracted):

* topic fit: the senior's wanted topics weighted by ``want * gap`` where
  ``gap = (6 - current skill level) / 5`` (1.0 when the level is unknown), averaged over the
  junior's offered level / 5 (0 for topics not offered);
* cross department: 1 when both departments are known and differ;
* seniority gap: ``(mentee.grade - mentor.grade) / span`` clipped to [0, 1], with
  ``span = max_grade_gap or 4``; 0 when a grade is unknown or in the bidirectional format;
* shared language: 1 when the two share a language;
* time zone: ``1 - min(|offset difference|, 12 h) / 12 h``; 0 when an offset is unknown;
* preference: 0.5 for each side that listed the other as preferred;
* previous pairing: 1 when either lists the other as a previous partner.

The scalar functions :func:`pair_factors` and :func:`pair_violations` compute the same
numbers one pair at a time; the tests hold both implementations to each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from plugin.matching.records import (
    Candidate,
    Factor,
    FactorContribution,
    HardRules,
    MatchSettings,
    ParamValue,
    Rule,
)

__all__ = [
    "RULE_ORDER",
    "Block",
    "Encoded",
    "encode",
    "pair_factors",
    "pair_score",
    "pair_violations",
    "score_block",
]

#: Column order of the per-rule tallies.
RULE_ORDER: tuple[Rule, ...] = tuple(Rule)
_RULE_INDEX = {rule: i for i, rule in enumerate(RULE_ORDER)}
_DEFAULT_SPAN = 4
_TZ_SPAN_MINUTES = 12 * 60

I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
UInt = npt.NDArray[Any]
Bool = npt.NDArray[np.bool_]


def _gap(skill: Mapping[str, int], topic: str) -> float:
    level = skill.get(topic)
    return 1.0 if level is None else (6 - level) / 5


def _want_weights(mentee: Candidate) -> dict[str, float]:
    return {t: want * _gap(mentee.skill_levels, t) for t, want in mentee.topics_wanted.items()}


@dataclass(frozen=True)
class _Sparse:
    """Sorted pair keys ``row * n_cols + col`` with optional values."""

    keys: I64
    values: F32

    def window(self, rows: I64, n_cols: int) -> tuple[I64, I64, F32]:
        """Entries of the given (sorted) rows: local row position, column, value."""
        lo = np.searchsorted(self.keys, rows * n_cols, side="left")
        hi = np.searchsorted(self.keys, (rows + 1) * n_cols, side="left")
        counts = hi - lo
        total = int(counts.sum())
        idx = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
        local = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        return local, self.keys[idx] % n_cols, self.values[idx]

    def contains(self, keys: I64) -> Bool:
        if len(self.keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        pos = np.searchsorted(self.keys, keys).clip(0, len(self.keys) - 1)
        found: Bool = self.keys[pos] == keys
        return found


def _sparse(pairs: Mapping[int, float]) -> _Sparse:
    keys = np.fromiter(pairs.keys(), dtype=np.int64, count=len(pairs))
    values = np.fromiter(pairs.values(), dtype=np.float32, count=len(pairs))
    order = np.argsort(keys, kind="stable")
    return _Sparse(keys=keys[order], values=values[order])


@dataclass(frozen=True)
class Encoded:
    """Candidates encoded for vectorised scoring (rows = learners, columns = teachers).

    Attributes:
        rows: The learners (mentees), in row order.
        cols: The teachers (mentors), in column order.
        peers: Bidirectional mode: ``rows`` and ``cols`` are the same pool, the diagonal is
            excluded and the seniority rule is symmetric.
    """

    rows: Sequence[Candidate]
    cols: Sequence[Candidate]
    peers: bool
    org_r: I32
    org_c: I32
    dept_r: I32
    dept_c: I32
    grade_r: I16
    grade_c: I16
    tz_r: I16
    tz_c: I16
    lang_r: UInt
    lang_c: UInt
    want_r: F32
    offer_c: F32
    chain: _Sparse
    avoid: _Sparse
    prefer: _Sparse
    previous: _Sparse
    gt_r: I32
    gt_c: I32
    gt_values_r: I16
    gt_values_c: I16
    cache: dict[Any, tuple[F32, Bool, Bool]]

    def take_cols(self, cols: I64) -> Encoded:
        """The same encoding restricted to some columns (in the given order).

        Args:
            cols: Column indices (unique).

        Returns:
            An encoding whose column ``k`` is column ``cols[k]`` of this one.
        """
        if self.peers:
            raise ValueError("take_cols is for mentor/mentee encodings")
        new_of = np.full(self.n_cols, -1, dtype=np.int64)
        new_of[cols] = np.arange(len(cols))
        n_old, n_new = self.n_cols, len(cols)

        def remap(rel: _Sparse) -> _Sparse:
            r, c = rel.keys // n_old, new_of[rel.keys % n_old]
            keep = c >= 0
            keys = r[keep] * n_new + c[keep]
            order = np.argsort(keys, kind="stable")
            return _Sparse(keys=keys[order], values=rel.values[keep][order])

        return replace(
            self,
            cols=[self.cols[int(c)] for c in cols],
            org_c=self.org_c[cols],
            dept_c=self.dept_c[cols],
            grade_c=self.grade_c[cols],
            tz_c=self.tz_c[cols],
            lang_c=self.lang_c[cols],
            offer_c=np.ascontiguousarray(self.offer_c[:, cols]),
            chain=remap(self.chain),
            avoid=remap(self.avoid),
            prefer=remap(self.prefer),
            previous=remap(self.previous),
            gt_c=self.gt_c[cols],
            cache={},
        )

    @property
    def n_rows(self) -> int:
        """Number of rows (learners)."""
        return len(self.rows)

    @property
    def n_cols(self) -> int:
        """Number of columns (teachers)."""
        return len(self.cols)


_UNKNOWN = np.iinfo(np.int16).min


def _codes(values: Sequence[str | None], vocab: dict[str, int]) -> I32:
    out = np.empty(len(values), dtype=np.int32)
    for i, value in enumerate(values):
        out[i] = -1 if value is None else vocab.setdefault(value, len(vocab))
    return out


def _ints(values: Sequence[int | None]) -> I16:
    return np.array([_UNKNOWN if v is None else v for v in values], dtype=np.int16)


def _lang_bits(people: Sequence[Candidate], vocab: Mapping[str, int], words: int) -> UInt:
    out = np.zeros((len(people), words), dtype=np.uint64)
    for i, person in enumerate(people):
        for lang in person.languages:
            bit = vocab[lang]
            out[i, bit // 64] |= np.uint64(1) << np.uint64(bit % 64)
    # The narrowest type that holds the bits keeps the pairwise AND cheap.
    for small in (np.uint8, np.uint16, np.uint32):
        if len(vocab) <= np.iinfo(small).bits:
            return out.astype(small)
    return out


def encode(
    mentees: Sequence[Candidate], mentors: Sequence[Candidate], *, peers: bool = False
) -> Encoded:
    """Encode candidates for :func:`score_block`.

    Args:
        mentees: Rows (learners).
        mentors: Columns (teachers). In peer mode pass the same pool twice.
        peers: Bidirectional mode.

    Returns:
        The encoding.
    """
    orgs: dict[str, int] = {}
    depts: dict[str, int] = {}
    org_r = _codes([c.org_id for c in mentees], orgs)
    org_c = _codes([c.org_id for c in mentors], orgs)
    dept_r = _codes([c.department for c in mentees], depts)
    dept_c = _codes([c.department for c in mentors], depts)
    langs = sorted({lang for c in (*mentees, *mentors) for lang in c.languages})
    lang_vocab = {lang: i for i, lang in enumerate(langs)}
    words = max(1, (len(langs) + 63) // 64)
    # Only topics someone offers and someone wants can score; the want weights are
    # normalised over all wanted topics so unmet wishes lower the fit.
    offered = {t for c in mentors for t in c.topics_offered}
    wanted = {t for c in mentees for t in c.topics_wanted}
    topics = sorted(offered & wanted)
    t_index = {t: i for i, t in enumerate(topics)}
    want_r = np.zeros((len(mentees), max(1, len(topics))), dtype=np.float32)
    for i, mentee in enumerate(mentees):
        weights = _want_weights(mentee)
        total = sum(weights.values())
        if total > 0:
            for topic, weight in weights.items():
                j = t_index.get(topic)
                if j is not None:
                    want_r[i, j] = weight / total
    offer_c = np.zeros((len(mentors), max(1, len(topics))), dtype=np.float32)
    for i, mentor in enumerate(mentors):
        for topic, level in mentor.topics_offered.items():
            j = t_index.get(topic)
            if j is not None:
                offer_c[i, j] = level / 5
    rel = _relations(mentees, mentors)
    gt_r, gt_values_r = _grade_tz_codes(mentees)
    gt_c, gt_values_c = _grade_tz_codes(mentors)
    return Encoded(
        rows=mentees,
        cols=mentors,
        peers=peers,
        org_r=org_r,
        org_c=org_c,
        dept_r=dept_r,
        dept_c=dept_c,
        grade_r=_ints([c.grade for c in mentees]),
        grade_c=_ints([c.grade for c in mentors]),
        tz_r=_ints([c.utc_offset_minutes for c in mentees]),
        tz_c=_ints([c.utc_offset_minutes for c in mentors]),
        lang_r=_lang_bits(mentees, lang_vocab, words),
        lang_c=_lang_bits(mentors, lang_vocab, words),
        want_r=want_r,
        offer_c=np.ascontiguousarray(offer_c.T),
        chain=rel["chain"],
        avoid=rel["avoid"],
        prefer=rel["prefer"],
        previous=rel["previous"],
        gt_r=gt_r,
        gt_c=gt_c,
        gt_values_r=gt_values_r,
        gt_values_c=gt_values_c,
        cache={},
    )


def _grade_tz_codes(people: Sequence[Candidate]) -> tuple[I32, I16]:
    """Codes of distinct (grade, time zone) combinations, for the lookup tables."""
    both = np.stack(
        [_ints([c.grade for c in people]), _ints([c.utc_offset_minutes for c in people])],
        axis=1,
    ).reshape(-1, 2)
    values, codes = np.unique(both, axis=0, return_inverse=True)
    return codes.reshape(-1).astype(np.int32), values.astype(np.int16).reshape(-1, 2)


_LUT_MAX = 1 << 20


def _grade_tz_terms(
    g_r: I16, g_c: I16, t_r: I16, t_c: I16, settings: MatchSettings, peers: bool
) -> tuple[F32, Bool, Bool]:
    """Seniority + time-zone score terms and the two rule masks, for broadcast inputs."""
    rules, w = settings.rules, settings.weights
    grades_known = (g_r != _UNKNOWN) & (g_c != _UNKNOWN)
    gap = g_r - g_c
    bad_sen = np.zeros(np.broadcast_shapes(g_r.shape, g_c.shape), dtype=bool)
    if peers:
        if rules.max_grade_gap is not None:
            bad_sen |= np.abs(gap) > rules.max_grade_gap
    else:
        if rules.min_grade_gap is not None:
            bad_sen |= gap < rules.min_grade_gap
        if rules.max_grade_gap is not None:
            bad_sen |= gap > rules.max_grade_gap
    bad_sen &= grades_known
    tz_known = (t_r != _UNKNOWN) & (t_c != _UNKNOWN)
    tz_diff = np.abs(t_r - t_c)
    bad_tz = np.zeros_like(bad_sen)
    if rules.max_timezone_hours is not None:
        bad_tz = tz_known & (tz_diff > rules.max_timezone_hours * 60)
    add = np.zeros(bad_sen.shape, dtype=np.float32)
    if w.seniority_gap and not peers:
        span = np.float32(rules.max_grade_gap or _DEFAULT_SPAN)
        value = np.clip(gap.astype(np.float32) / span, 0, 1)
        value[~grades_known] = 0
        add += value * np.float32(w.seniority_gap)
    if w.timezone:
        tz_value = 1 - np.minimum(tz_diff, _TZ_SPAN_MINUTES).astype(np.float32) / np.float32(
            _TZ_SPAN_MINUTES
        )
        tz_value[~tz_known] = 0
        add += tz_value * np.float32(w.timezone)
    return add, bad_sen, bad_tz


def _lut(enc: Encoded, settings: MatchSettings) -> tuple[F32, Bool, Bool] | None:
    """Lookup tables over (grade, time zone) codes, when there are few combinations."""
    n_r, n_c = len(enc.gt_values_r), len(enc.gt_values_c)
    if n_r * n_c > _LUT_MAX:
        return None
    key = (settings.rules, settings.weights.seniority_gap, settings.weights.timezone)
    if key not in enc.cache:
        vr, vc = enc.gt_values_r, enc.gt_values_c
        enc.cache[key] = _grade_tz_terms(
            vr[:, 0, None], vc[None, :, 0], vr[:, 1, None], vc[None, :, 1], settings, enc.peers
        )
    return enc.cache[key]


def _relations(mentees: Sequence[Candidate], mentors: Sequence[Candidate]) -> dict[str, _Sparse]:
    n_cols = len(mentors)
    row_of = {c.id: i for i, c in enumerate(mentees)}
    col_of = {c.id: j for j, c in enumerate(mentors)}
    found: dict[str, dict[int, float]] = {"chain": {}, "avoid": {}, "prefer": {}, "previous": {}}
    for attr, name in (
        ("chain", "chain"),
        ("avoid", "avoid"),
        ("prefer", "prefer"),
        ("previous_partners", "previous"),
    ):
        target = found[name]
        step = 0.5 if name == "prefer" else 1.0
        for i, mentee in enumerate(mentees):
            for other in getattr(mentee, attr):
                j = col_of.get(other)
                if j is not None:
                    key = i * n_cols + j
                    target[key] = min(1.0, target.get(key, 0.0) + step)
        for j, mentor in enumerate(mentors):
            for other in getattr(mentor, attr):
                r = row_of.get(other)
                if r is not None:
                    key = r * n_cols + j
                    target[key] = min(1.0, target.get(key, 0.0) + step)
    return {name: _sparse(pairs) for name, pairs in found.items()}


@dataclass(frozen=True)
class Block:
    """Scores of some rows against every column.

    Attributes:
        rows: The row indices (sorted), one per block row.
        scores: float32 ``(rows, cols)``; meaningful where ``feasible``.
        feasible: Pairs passing every hard rule.
        removed: ``(len(RULE_ORDER), rows, cols)`` mask per rule, only when asked for.
    """

    rows: I64
    scores: F32
    feasible: Bool
    removed: npt.NDArray[np.bool_] | None
    rule_counts: npt.NDArray[np.int64]


def score_block(
    enc: Encoded, settings: MatchSettings, rows: I64, *, with_rules: bool = False
) -> Block:
    """Score and check the hard rules for some rows against all columns.

    Args:
        enc: The encoding.
        settings: Weights and rules.
        rows: Sorted row indices (e.g. ``np.arange(r0, r1)``).
        with_rules: Also return one removal mask per rule (for the tallies).

    Returns:
        The block.
    """
    rules, w = settings.rules, settings.weights
    n_cols = enc.n_cols
    shape = (len(rows), n_cols)
    removed = np.zeros((len(RULE_ORDER), *shape), dtype=bool) if with_rules else None
    infeasible = np.zeros(shape, dtype=bool)
    rule_counts = np.zeros(len(RULE_ORDER), dtype=np.int64)

    def mark(rule: Rule, mask: Bool) -> None:
        np.logical_or(infeasible, mask, out=infeasible)
        rule_counts[_RULE_INDEX[rule]] = np.count_nonzero(mask)
        if removed is not None:
            removed[_RULE_INDEX[rule]] = mask

    org_r = enc.org_r[rows]
    one_org = (
        len(org_r) > 0
        and n_cols > 0
        and org_r.min() == org_r.max() == enc.org_c.min() == enc.org_c.max()
    )
    if removed is not None or not one_org:
        mark(Rule.DIFFERENT_ORG, org_r[:, None] != enc.org_c[None, :])
    for rule, rel in ((Rule.AVOID, enc.avoid), (Rule.MANAGEMENT_CHAIN, enc.chain)):
        bi, bj, _ = rel.window(rows, n_cols)
        mask = np.zeros(shape, dtype=bool)
        mask[bi, bj] = True
        mark(rule, mask)

    scores = np.matmul(enc.want_r[rows], enc.offer_c)
    scores *= np.float32(w.topic_fit)
    lut = None if with_rules else _lut(enc, settings)
    if lut is not None:
        add, bad_sen, bad_tz = lut
        kr, kc = enc.gt_r[rows], enc.gt_c
        scores += add[kr[:, None], kc[None, :]]
        bad_any = bad_sen | bad_tz
        if bad_any.any():
            np.logical_or(infeasible, bad_any[kr[:, None], kc[None, :]], out=infeasible)
            # Counts per rule from the tables: (rows per code) @ mask @ (cols per code).
            hr = np.bincount(kr, minlength=bad_sen.shape[0]).astype(np.float64)
            hc = np.bincount(kc, minlength=bad_sen.shape[1]).astype(np.float64)
            rule_counts[_RULE_INDEX[Rule.SENIORITY_BAND]] = round(float(hr @ bad_sen @ hc))
            rule_counts[_RULE_INDEX[Rule.TIMEZONE]] = round(float(hr @ bad_tz @ hc))
    else:
        add, bad_sen, bad_tz = _grade_tz_terms(
            enc.grade_r[rows, None],
            enc.grade_c[None, :],
            enc.tz_r[rows, None],
            enc.tz_c[None, :],
            settings,
            enc.peers,
        )
        scores += add
        mark(Rule.SENIORITY_BAND, bad_sen)
        if settings.rules.max_timezone_hours is not None:
            mark(Rule.TIMEZONE, bad_tz)

    words = enc.lang_r.shape[1]
    share = (enc.lang_r[rows, 0, None] & enc.lang_c[None, :, 0]) != 0
    for word in range(1, words):
        share |= (enc.lang_r[rows, word, None] & enc.lang_c[None, :, word]) != 0
    if rules.require_shared_language:
        mark(Rule.NO_SHARED_LANGUAGE, ~share)
    elif removed is not None:
        removed[_RULE_INDEX[Rule.NO_SHARED_LANGUAGE]] = False
    if enc.peers:
        infeasible[np.arange(len(rows)), rows] = True

    if w.cross_department:
        d_r, d_c = enc.dept_r[rows, None], enc.dept_c[None, :]
        cross = d_r != d_c
        if (d_r < 0).any() or (d_c < 0).any():
            cross &= (d_r >= 0) & (d_c >= 0)
        np.add(scores, np.float32(w.cross_department), out=scores, where=cross)
    if w.shared_language:
        np.add(scores, np.float32(w.shared_language), out=scores, where=share)
    if w.preference:
        bi, bj, vals = enc.prefer.window(rows, n_cols)
        scores[bi, bj] += vals * np.float32(w.preference)
    if w.previous_pairing_penalty:
        bi, bj, vals = enc.previous.window(rows, n_cols)
        scores[bi, bj] -= vals * np.float32(w.previous_pairing_penalty)
    np.logical_not(infeasible, out=infeasible)
    return Block(
        rows=rows, scores=scores, feasible=infeasible, removed=removed, rule_counts=rule_counts
    )


def pair_violations(
    mentor: Candidate, mentee: Candidate, rules: HardRules, *, peers: bool = False
) -> list[Rule]:
    """The hard rules one pair breaks (empty when the pair is allowed).

    Args:
        mentor: The teacher.
        mentee: The learner.
        rules: Rule settings.
        peers: Bidirectional mode (symmetric seniority rule).

    Returns:
        Broken rules, in :data:`RULE_ORDER`.
    """
    out: list[Rule] = []
    if mentor.org_id != mentee.org_id:
        out.append(Rule.DIFFERENT_ORG)
    if mentor.id in mentee.avoid or mentee.id in mentor.avoid:
        out.append(Rule.AVOID)
    if mentor.id in mentee.chain or mentee.id in mentor.chain:
        out.append(Rule.MANAGEMENT_CHAIN)
    if mentor.grade is not None and mentee.grade is not None:
        gap = mentee.grade - mentor.grade
        lo, hi = rules.min_grade_gap, rules.max_grade_gap
        if peers:
            if hi is not None and abs(gap) > hi:
                out.append(Rule.SENIORITY_BAND)
        elif (lo is not None and gap < lo) or (hi is not None and gap > hi):
            out.append(Rule.SENIORITY_BAND)
    if rules.require_shared_language and not (mentor.languages & mentee.languages):
        out.append(Rule.NO_SHARED_LANGUAGE)
    tz, a, b = rules.max_timezone_hours, mentor.utc_offset_minutes, mentee.utc_offset_minutes
    if tz is not None and a is not None and b is not None and abs(a - b) > tz * 60:
        out.append(Rule.TIMEZONE)
    return out


def pair_factors(
    mentor: Candidate, mentee: Candidate, settings: MatchSettings, *, peers: bool = False
) -> tuple[FactorContribution, ...]:
    """Every factor of one pair with weight, value, contribution and text parameters.

    Args:
        mentor: The teacher.
        mentee: The learner.
        settings: Weights and rules.
        peers: Bidirectional mode (no seniority factor).

    Returns:
        One contribution per factor, in :class:`Factor` order.
    """
    w = settings.weights
    out: list[FactorContribution] = []

    def add(factor: Factor, value: float, params: dict[str, ParamValue]) -> None:
        weight = w.weight(factor)
        sign = -1.0 if factor is Factor.PREVIOUS_PAIRING else 1.0
        out.append(FactorContribution(factor, weight, value, sign * weight * value, params))

    weights = _want_weights(mentee)
    total = sum(weights.values())
    parts = {
        t: a * mentor.topics_offered.get(t, 0) / 5
        for t, a in weights.items()
        if mentor.topics_offered.get(t)
    }
    topic_value = sum(parts.values()) / total if total > 0 else 0.0
    topic_params: dict[str, ParamValue] = {"mentor": mentor.name, "mentee": mentee.name}
    if parts:
        ranked = sorted(parts, key=lambda t: (-parts[t], t))
        topic_params.update(
            topic=ranked[0],
            level=mentor.topics_offered[ranked[0]],
            topics=",".join(ranked[:3]),
            count=len(parts),
        )
    add(Factor.TOPIC_FIT, topic_value, topic_params)

    d1, d2 = mentor.department, mentee.department
    cross = d1 is not None and d2 is not None and d1 != d2
    add(Factor.CROSS_DEPARTMENT, 1.0 if cross else 0.0, {"mentor": d1 or "", "mentee": d2 or ""})

    gap_value, gap = 0.0, 0
    if not peers and mentor.grade is not None and mentee.grade is not None:
        gap = mentee.grade - mentor.grade
        span = settings.rules.max_grade_gap or _DEFAULT_SPAN
        gap_value = min(1.0, max(0.0, gap / span))
    add(Factor.SENIORITY_GAP, gap_value, {"gap": gap})

    shared = sorted(mentor.languages & mentee.languages)
    add(Factor.SHARED_LANGUAGE, 1.0 if shared else 0.0, {"languages": ",".join(shared)})

    tz_value, hours = 0.0, 0.0
    if mentor.utc_offset_minutes is not None and mentee.utc_offset_minutes is not None:
        diff = abs(mentor.utc_offset_minutes - mentee.utc_offset_minutes)
        tz_value = 1 - min(diff, _TZ_SPAN_MINUTES) / _TZ_SPAN_MINUTES
        hours = diff / 60
    add(Factor.TIMEZONE, tz_value, {"hours": hours})

    pref = 0.5 * (mentor.id in mentee.prefer) + 0.5 * (mentee.id in mentor.prefer)
    add(
        Factor.PREFERENCE,
        pref,
        {
            "mentee_prefers": int(mentor.id in mentee.prefer),
            "mentor_prefers": int(mentee.id in mentor.prefer),
        },
    )
    before = mentor.id in mentee.previous_partners or mentee.id in mentor.previous_partners
    add(Factor.PREVIOUS_PAIRING, 1.0 if before else 0.0, {})
    return tuple(out)


def pair_score(
    mentor: Candidate, mentee: Candidate, settings: MatchSettings, *, peers: bool = False
) -> float:
    """The score of one pair (sum of :func:`pair_factors` contributions).

    Args:
        mentor: The teacher.
        mentee: The learner.
        settings: Weights and rules.
        peers: Bidirectional mode.

    Returns:
        The score.
    """
    return sum(f.contribution for f in pair_factors(mentor, mentee, settings, peers=peers))
