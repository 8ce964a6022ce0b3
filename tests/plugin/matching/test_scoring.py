from __future__ import annotations

import numpy as np
import pytest

from plugin.matching import Factor, HardRules, MatchSettings, Rule, pair_factors, pair_violations
from plugin.matching.scoring import encode, score_block
from plugin.matching.synthetic import synthetic_candidates

from .helpers import mentee, mentor


def test_allowed_pair_breaks_no_rule() -> None:
    assert pair_violations(mentor("m"), mentee("s"), HardRules()) == []


@pytest.mark.parametrize(
    ("m_kw", "s_kw", "rules", "rule"),
    [
        ({"org_id": "o2"}, {}, HardRules(), Rule.DIFFERENT_ORG),
        ({}, {"avoid": frozenset({"m"})}, HardRules(), Rule.AVOID),
        ({"avoid": frozenset({"s"})}, {}, HardRules(), Rule.AVOID),
        ({"chain": frozenset({"boss", "s"})}, {}, HardRules(), Rule.MANAGEMENT_CHAIN),
        ({}, {"chain": frozenset({"m"})}, HardRules(), Rule.MANAGEMENT_CHAIN),
        ({"grade": 8}, {"grade": 8}, HardRules(), Rule.SENIORITY_BAND),
        ({"grade": 9}, {"grade": 8}, HardRules(), Rule.SENIORITY_BAND),
        ({"grade": 1}, {"grade": 8}, HardRules(max_grade_gap=5), Rule.SENIORITY_BAND),
        ({"languages": frozenset({"en"})}, {}, HardRules(), Rule.NO_SHARED_LANGUAGE),
        (
            {"utc_offset_minutes": -300},
            {"utc_offset_minutes": 60},
            HardRules(max_timezone_hours=4),
            Rule.TIMEZONE,
        ),
    ],
)
def test_each_hard_rule_removes_the_pair(
    m_kw: dict[str, object], s_kw: dict[str, object], rules: HardRules, rule: Rule
) -> None:
    m, s = mentor("m", **m_kw), mentee("s", **s_kw)
    assert pair_violations(m, s, rules) == [rule]
    enc = encode([s], [m])
    blk = score_block(enc, MatchSettings(rules=rules), np.arange(1), with_rules=True)
    assert not blk.feasible[0, 0]
    assert blk.removed is not None
    assert [r for k, r in enumerate(Rule) if blk.removed[k, 0, 0]] == [rule]


def test_rules_that_can_be_switched_off() -> None:
    m = mentor("m", languages=frozenset({"en"}), utc_offset_minutes=-300, grade=None)
    s = mentee("s", grade=None)
    rules = HardRules(require_shared_language=False, max_timezone_hours=None)
    assert pair_violations(m, s, rules) == []  # unknown grades pass the band


def test_peer_mode_checks_only_the_absolute_gap() -> None:
    a, b = mentor("a", grade=5), mentor("b", grade=3)
    assert pair_violations(a, b, HardRules(), peers=True) == []
    assert pair_violations(a, b, HardRules(max_grade_gap=1), peers=True) == [Rule.SENIORITY_BAND]


def _values(m_kw: dict[str, object], s_kw: dict[str, object]) -> dict[Factor, float]:
    factors = pair_factors(mentor("m", **m_kw), mentee("s", **s_kw), MatchSettings())
    return {f.key: f.value for f in factors}


def test_topic_fit_weights_wanted_topics_by_skill_gap() -> None:
    # Wants ai (5, skill 1 -> gap 1.0) and excel (5, skill 5 -> gap 0.2); offers ai at 4.
    values = _values(
        {"topics_offered": {"ai": 4}},
        {"topics_wanted": {"ai": 5, "excel": 5}, "skill_levels": {"ai": 1, "excel": 5}},
    )
    assert values[Factor.TOPIC_FIT] == pytest.approx((5 * 1.0 * 0.8) / (5 * 1.0 + 5 * 0.2))
    assert (
        _values({"topics_offered": {"excel": 5}}, {"topics_wanted": {"ai": 3}})[Factor.TOPIC_FIT]
        == 0
    )


def test_other_factor_values() -> None:
    v = _values(
        {"grade": 4, "utc_offset_minutes": 0, "prefer": frozenset({"s"})},
        {"grade": 6, "utc_offset_minutes": 180, "previous_partners": frozenset({"m"})},
    )
    assert v[Factor.CROSS_DEPARTMENT] == 1.0
    assert v[Factor.SENIORITY_GAP] == pytest.approx(2 / 4)
    assert v[Factor.SHARED_LANGUAGE] == 1.0
    assert v[Factor.TIMEZONE] == pytest.approx(1 - 3 / 12)
    assert v[Factor.PREFERENCE] == 0.5
    assert v[Factor.PREVIOUS_PAIRING] == 1.0
    same = _values({"department": "Sales"}, {})
    assert same[Factor.CROSS_DEPARTMENT] == 0.0


def test_previous_pairing_is_subtracted() -> None:
    factors = pair_factors(
        mentor("m", previous_partners=frozenset({"s"})), mentee("s"), MatchSettings()
    )
    penalty = next(f for f in factors if f.key is Factor.PREVIOUS_PAIRING)
    assert penalty.contribution == pytest.approx(-MatchSettings().weights.previous_pairing_penalty)


@pytest.mark.parametrize(
    "rules",
    [HardRules(), HardRules(max_timezone_hours=3, max_grade_gap=5, require_shared_language=False)],
)
@pytest.mark.parametrize("with_rules", [False, True])
def test_vectorised_scores_equal_scalar_scores(rules: HardRules, with_rules: bool) -> None:
    mentors, mentees = synthetic_candidates(60, 25, seed=4)
    settings = MatchSettings(rules=rules)
    blk = score_block(encode(mentees, mentors), settings, np.arange(60), with_rules=with_rules)
    for i, s in enumerate(mentees):
        for j, m in enumerate(mentors):
            expected = sum(f.contribution for f in pair_factors(m, s, settings))
            assert blk.scores[i, j] == pytest.approx(expected, abs=1e-5)
            assert blk.feasible[i, j] == (not pair_violations(m, s, rules))


def test_block_rule_counts_match_masks() -> None:
    mentors, mentees = synthetic_candidates(40, 20, seed=5)
    enc = encode(mentees, mentors)
    settings = MatchSettings(rules=HardRules(max_timezone_hours=2))
    fast = score_block(enc, settings, np.arange(40))
    slow = score_block(enc, settings, np.arange(40), with_rules=True)
    assert slow.removed is not None
    assert list(fast.rule_counts[1:]) == [int(m.sum()) for m in slow.removed[1:]]
    assert (fast.feasible == slow.feasible).all()
