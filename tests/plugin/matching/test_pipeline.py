from __future__ import annotations

import random

import pytest

from plugin.matching import (
    Factor,
    HardRules,
    LockedTandem,
    MatchInputError,
    MatchSettings,
    Rule,
    UnmatchedReason,
    match,
)
from plugin.matching.synthetic import synthetic_candidates

from .helpers import brute_assignment, feasible_scores, mentee, mentor, topic_instance

# Scores: mentee i wants topic t{i}; mentor j offers it at MATRIX[i][j] / 5.
# Every mentee's best mentor is m0 and m1/m2 prefer s0, so top-1 per row and per column
# keeps only {s0,s1,s2}-m0, s0-m1, s0-m2 (best 1.6), while the optimum is 2.2.
MATRIX = [[5, 4, 4], [4, 3, 0], [4, 0, 3]]


def test_pruning_is_repaired_by_pricing_and_proven_optimal() -> None:
    mentors, mentees, settings = topic_instance(MATRIX, [1, 1, 1])
    settings = MatchSettings(weights=settings.weights, top_k=1, top_k_per_mentor=1)
    result = match(mentors, mentees, settings)
    assert result.total_score == pytest.approx(2.2)
    assert result.matched_mentees == 3
    assert result.optimal is True
    assert result.gap == 0
    assert result.stats.pricing_rounds >= 2
    assert result.stats.solver_pairs > 5


def test_pruning_without_enough_rounds_reports_a_valid_gap() -> None:
    mentors, mentees, settings = topic_instance(MATRIX, [1, 1, 1])
    settings = MatchSettings(
        weights=settings.weights, top_k=1, top_k_per_mentor=1, max_pricing_rounds=1
    )
    result = match(mentors, mentees, settings)
    assert result.optimal is False
    assert result.total_score == pytest.approx(1.6)
    assert result.gap is not None
    assert result.gap >= 2.2 - 1.6 - 1e-9


@pytest.mark.parametrize("objective", ["best_total", "most_matched"])
def test_candidates_pipeline_is_exact_against_brute_force(objective: str) -> None:
    rng = random.Random(11)
    for seed in range(25):
        n_s, n_m = rng.randint(2, 6), rng.randint(1, 3)
        mentors, mentees = synthetic_candidates(n_s, n_m, seed=seed)
        mentors = [mentor(m.id, **{**_kw(m), "capacity": rng.randint(1, 2)}) for m in mentors]
        settings = MatchSettings(objective=objective, top_k=1, top_k_per_mentor=1)  # type: ignore[arg-type]
        result = match(mentors, mentees, settings)
        scores = feasible_scores(mentors, mentees, settings)
        count, total = brute_assignment([m.capacity for m in mentors], n_s, scores, objective)
        assert result.optimal
        assert result.matched_mentees == count
        assert result.total_score == pytest.approx(total, abs=1e-5)


def _kw(c: object) -> dict[str, object]:
    fields = ("org_id", "department", "grade", "languages", "utc_offset_minutes")
    out = {f: getattr(c, f) for f in fields}
    out.update(topics_offered=c.topics_offered, chain=c.chain)  # type: ignore[attr-defined]
    return out


def test_most_matched_differs_from_best_total() -> None:
    # s0 scores 1.0 with m0 and 0.2 with m1; s1 only fits m0 (0.6): m1 avoids s1.
    mentors, mentees, settings = topic_instance([[5, 1], [3, 0]], [1, 1])
    mentors[1] = mentor("m1", topics_offered={"t0": 1}, avoid=frozenset({"s1"}))
    best = match(mentors, mentees, settings)
    most = match(
        mentors, mentees, MatchSettings(weights=settings.weights, objective="most_matched")
    )
    assert best.matched_mentees == 1
    assert best.total_score == pytest.approx(1.0)
    assert most.matched_mentees == 2
    assert most.total_score == pytest.approx(0.8)


def test_only_negative_candidates_stay_unmatched_under_best_total() -> None:
    s = mentee("s", topics_wanted={"x": 3}, previous_partners=frozenset({"m"}))
    m = mentor("m", department="Sales", topics_offered={"y": 3}, utc_offset_minutes=None)
    # Only factors: shared language 0.05 + seniority 0.1 ... minus previous pairing 0.25 < 0.
    result = match([m], [s])
    assert result.tandems == ()
    by_id = {u.person_id: u for u in result.unmatched}
    assert by_id["s"].reason is UnmatchedReason.ONLY_NEGATIVE
    assert "zero or less" in by_id["s"].explanation["en"]
    assert "null" in by_id["s"].explanation["de"]
    most = match([m], [s], MatchSettings(objective="most_matched"))
    assert len(most.tandems) == 1
    assert most.total_score < 0


def test_unmatched_reason_management_chain() -> None:
    mentors = [mentor(f"m{i}", chain=frozenset({"boss", "s"})) for i in range(14)]
    result = match(mentors, [mentee("s")])
    (person,) = [u for u in result.unmatched if u.person_id == "s"]
    assert person.reason is UnmatchedReason.NO_CANDIDATES
    assert person.counts[Rule.MANAGEMENT_CHAIN.value] == 14
    assert "all 14 candidates are in your management chain" in person.explanation["en"]
    assert "alle 14 Kandidat:innen sind in Ihrer Führungslinie" in person.explanation["de"]


def test_unmatched_reason_language() -> None:
    result = match([mentor("m", languages=frozenset({"en"}))], [mentee("s")])
    reasons = {u.person_id: u for u in result.unmatched}
    assert reasons["s"].reason is UnmatchedReason.NO_CANDIDATES
    assert "no candidate shares a language" in reasons["s"].explanation["en"]
    assert "gemeinsame Sprache" in reasons["s"].explanation["de"]
    assert reasons["m"].role == "mentor"
    assert reasons["m"].reason is UnmatchedReason.NO_CANDIDATES


def test_unmatched_reason_capacity_and_partners_taken() -> None:
    mentors = [mentor("m0", capacity=1), mentor("m1", capacity=1, chain=frozenset({"s0", "s1"}))]
    mentees = [mentee("s0"), mentee("s1")]
    result = match(mentors, mentees)
    assert result.matched_mentees == 1
    reasons = {u.person_id: u for u in result.unmatched}
    loser = next(sid for sid in ("s0", "s1") if sid in reasons)
    assert reasons[loser].reason is UnmatchedReason.CAPACITY
    assert "Every suitable junior is at capacity" in reasons[loser].explanation["en"]
    assert "ausgelastet" in reasons[loser].explanation["de"]
    assert reasons["m1"].reason is UnmatchedReason.NO_CANDIDATES
    # A mentor whose only suitable mentee went to someone else.
    mentors = [mentor("a", grade=2), mentor("b", grade=3, chain=frozenset())]
    mentees = [mentee("s", topics_wanted={"ai_tools": 5})]
    result = match(mentors, mentees)
    reasons = {u.person_id: u for u in result.unmatched}
    assert reasons["b"].reason is UnmatchedReason.PARTNERS_TAKEN


def test_explanations_in_english_and_german() -> None:
    m = mentor("m", display_name="Lea", department="IT", topics_offered={"ai_tools": 4})
    s = mentee("s", display_name="Dr. X", department="Sales")
    result = match([m], [s], topic_labels={"ai_tools": "AI tools"})
    (tandem,) = result.tandems
    en, de = tandem.explanation["en"], tandem.explanation["de"]
    assert "Topic fit: Lea offers AI tools (level 4), which Dr. X wants to learn" in en
    assert "Different departments: IT and Sales" in en
    assert "Themen-Passung: Lea bietet AI tools (Stufe 4), das Dr. X lernen möchte" in de
    assert "Verschiedene Abteilungen: IT und Sales" in de
    keys = {f.key for f in tandem.factors}
    assert Factor.TOPIC_FIT in keys
    top = tandem.pairs[0].factors[0]
    assert top.params["topic"] == "ai_tools"
    assert top.params["level"] == 4
    assert tandem.score == pytest.approx(sum(f.contribution for f in tandem.pairs[0].factors))


def test_shared_language_text() -> None:
    weights = MatchSettings().weights
    from dataclasses import replace

    settings = MatchSettings(weights=replace(weights, shared_language=1.0))
    result = match([mentor("m")], [mentee("s")], settings)
    assert "Shared language: German" in result.tandems[0].explanation["en"]
    assert "Gemeinsame Sprache: Deutsch" in result.tandems[0].explanation["de"]


def test_locked_tandems_are_kept_and_capacity_reduced() -> None:
    mentors = [mentor("m0", capacity=2), mentor("m1", capacity=1)]
    mentees = [mentee("s0"), mentee("s1"), mentee("s2")]
    result = match(mentors, mentees, locked=[LockedTandem.one("m1", "s2")])
    locked = [t for t in result.tandems if t.locked]
    assert [(t.mentor_ids, t.mentee_ids) for t in locked] == [(("m1",), ("s2",))]
    fresh = [t for t in result.tandems if not t.locked]
    assert sorted(t.mentee_ids[0] for t in fresh) == ["s0", "s1"]
    assert all(t.mentor_ids == ("m0",) for t in fresh)
    assert result.broken_locks == ()


def test_broken_lock_after_reorganisation_is_reported_and_released() -> None:
    # After a reorganisation s0 manages m0.
    mentors = [mentor("m0", chain=frozenset({"s0"})), mentor("m1")]
    mentees = [mentee("s0")]
    result = match(mentors, mentees, locked=[LockedTandem.one("m0", "s0")])
    (broken,) = result.broken_locks
    assert broken.released
    (violation,) = broken.violations
    assert violation.rule is Rule.MANAGEMENT_CHAIN
    assert "same management chain" in violation.explanation["en"]
    assert "Führungslinie" in violation.explanation["de"]
    assert [(t.mentor_ids, t.mentee_ids, t.locked) for t in result.tandems] == [
        (("m1",), ("s0",), False)
    ]
    kept = match(
        mentors, mentees, locked=[LockedTandem.one("m0", "s0")], release_broken_locks=False
    )
    assert kept.tandems[0].locked
    assert not kept.broken_locks[0].released


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        (LockedTandem.one("zz", "s0"), "unknown id 'zz'"),
        (LockedTandem.one("s0", "m0"), "is a mentee"),
        (LockedTandem.one("m0", "s0", "s1"), "more mentees than their capacity"),
    ],
)
def test_invalid_locks(lock: LockedTandem, message: str) -> None:
    with pytest.raises(MatchInputError, match=message):
        match([mentor("m0")], [mentee("s0"), mentee("s1")], locked=[lock])


def test_duplicate_ids_and_wrong_roles_are_refused() -> None:
    with pytest.raises(MatchInputError, match="duplicate id"):
        match([mentor("a")], [mentee("a")])
    with pytest.raises(MatchInputError, match="expected 'mentee'"):
        match([mentor("a")], [mentor("b")])


def test_progress_and_stats() -> None:
    mentors, mentees = synthetic_candidates(300, 60, seed=2)
    calls: list[tuple[str, int, int]] = []
    settings = MatchSettings(block_rows=64, rules=HardRules(max_timezone_hours=6))
    result = match(mentors, mentees, settings, progress=lambda *a: calls.append(a))
    stages = {c[0] for c in calls}
    assert {"score", "solve", "explain"} <= stages
    assert ("score", 5, 5) in calls
    st = result.stats
    assert st.pairs_considered == 300 * 60
    assert st.feasible_pairs + 0 <= st.pairs_considered
    assert st.solver_pairs + st.pruned_pairs == st.feasible_pairs
    assert result.optimal
    assert set(result.timings) == {"encode", "score", "solve", "explain"}
    assert sum(st.removed_by_rule.values()) >= st.pairs_considered - st.feasible_pairs
