from __future__ import annotations

import pytest

from plugin.errors import MatchError, PluginError
from plugin.matching import (
    Candidate,
    HardRules,
    LockedTandem,
    MatchInputError,
    MatchSettings,
    MatchWeights,
)


def test_match_input_error_is_a_plugin_error() -> None:
    assert issubclass(MatchInputError, MatchError)
    assert issubclass(MatchInputError, PluginError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "boss"}, "role"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": 2, "role": "mentee"}, "at most one mentor"),
        ({"topics_offered": {"ai": 6}}, r"topics_offered\[ai\]"),
        ({"skill_levels": {"ai": 0}}, r"skill_levels\[ai\]"),
        ({"utc_offset_minutes": 2000}, "utc_offset_minutes"),
        ({"org_id": ""}, "org_id"),
        ({"grade": "7"}, "grade"),
    ],
)
def test_candidate_validation(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"id": "a", "role": "mentor", "org_id": "o"}
    base.update(kwargs)
    with pytest.raises(MatchInputError, match=message):
        Candidate(**base)  # type: ignore[arg-type]


def test_candidate_normalises_languages() -> None:
    c = Candidate(id="a", role="mentor", org_id="o", languages=frozenset({" DE "}))
    assert c.languages == frozenset({"de"})
    assert c.name == "a"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MatchWeights(topic_fit=-1), "weights.topic_fit"),
        (lambda: MatchWeights(timezone=float("nan")), "weights.timezone"),
        (
            lambda: MatchWeights(
                topic_fit=0,
                cross_department=0,
                seniority_gap=0,
                shared_language=0,
                timezone=0,
                preference=0,
            ),
            "at least one",
        ),
        (lambda: HardRules(min_grade_gap=3, max_grade_gap=1), "max_grade_gap"),
        (lambda: HardRules(max_timezone_hours=-2), "max_timezone_hours"),
        (lambda: MatchSettings(format="circle"), "format"),  # type: ignore[arg-type]
        (lambda: MatchSettings(objective="fair"), "objective"),  # type: ignore[arg-type]
        (lambda: MatchSettings(seniors_per_group=(1, 3)), "seniors_per_group"),
        (lambda: MatchSettings(juniors_per_group=(4, 3)), "juniors_per_group"),
        (lambda: MatchSettings(top_k=0), "top_k"),
        (lambda: MatchSettings(time_limit_seconds=0), "time_limit_seconds"),
    ],
)
def test_settings_validation(build: object, message: str) -> None:
    with pytest.raises(MatchInputError, match=message):
        build()  # type: ignore[operator]


def test_settings_from_mapping() -> None:
    s = MatchSettings.from_mapping(
        {
            "format": "group",
            "objective": "most_matched",
            "weights": {"topic_fit": 0.7},
            "rules": {"max_timezone_hours": 3},
            "juniors_per_group": [3, 4],
        }
    )
    assert s.format == "group"
    assert s.weights.topic_fit == 0.7
    assert s.rules.max_timezone_hours == 3
    assert s.juniors_per_group == (3, 4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": 1}, "unknown keys: colour"),
        ({"weights": {"topicfit": 1}}, "weights: unknown keys: topicfit"),
        ({"rules": []}, "rules: must be an object"),
    ],
)
def test_settings_from_mapping_refuses(data: dict[str, object], message: str) -> None:
    with pytest.raises(MatchInputError, match=message):
        MatchSettings.from_mapping(data)


def test_locked_tandem_needs_ids() -> None:
    with pytest.raises(MatchInputError, match=r"locked\.mentee_ids"):
        LockedTandem(mentor_ids=("m",), mentee_ids=())
    assert LockedTandem.one("m", "s1", "s2").mentee_ids == ("s1", "s2")
