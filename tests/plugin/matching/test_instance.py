from __future__ import annotations

import json
from typing import Any

import pytest

from plugin.matching import (
    MatchInputError,
    parse_instance,
    parse_instance_text,
    render_result,
    solve_instance,
)


def instance(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mentors": [{"id": "m1", "capacity": 2}, {"id": "m2", "capacity": 1}],
        "mentees": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}],
        "pairs": [
            {"mentor": "m1", "mentee": "s1", "score": 0.83},
            {"mentor": "m2", "mentee": "s1", "score": 0.9},
            {"mentor": "m1", "mentee": "s2", "score": 0.5},
            {"mentor": "m2", "mentee": "s3", "score": -0.2},
        ],
        "objective": "best_total",
    }
    data.update(over)
    return data


def test_solve_and_render_best_total() -> None:
    result = render_result(solve_instance(parse_instance(instance())))
    assert result["objective"] == "best_total"
    assert result["optimal"] is True
    assert result["matched"] == [
        {"mentor": "m2", "mentee": "s1", "score": 0.9},
        {"mentor": "m1", "mentee": "s2", "score": 0.5},
    ]
    assert result["total_score"] == pytest.approx(1.4)
    assert result["unmatched_mentees"] == ["s3"]
    assert result["unmatched_mentors_capacity"] == {"m1": 1}
    json.dumps(result)


def test_most_matched_takes_a_negative_pair_when_it_adds_a_match() -> None:
    result = render_result(solve_instance(parse_instance(instance(objective="most_matched"))))
    assert len(result["matched"]) == 3
    assert {"mentor": "m2", "mentee": "s3", "score": -0.2} in result["matched"]
    assert result["total_score"] == pytest.approx(0.83 + 0.5 - 0.2)


def test_parse_text_roundtrip() -> None:
    parsed = parse_instance_text(json.dumps(instance()))
    assert parsed.mentors == {"m1": 2, "m2": 1}
    assert parsed.pairs[0] == ("m1", "s1", 0.83)


def _pairs(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"mentor": "m1", "mentee": "s1", "score": 0.5}, *extra]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "instance: must be a JSON object"),
        ({"mentors": [], "mentees": []}, "pairs: is required"),
        (instance(mentors={"id": "m1"}), "mentors: must be a list"),
        (instance(extra=1), "unknown keys: extra"),
        (instance(mentors=[{"capacity": 1}]), r"mentors\[0\]: 'id' is required"),
        (instance(mentors=[{"id": "m1"}]), r"mentors\[0\]: 'capacity' is required"),
        (instance(mentors=["m1"]), r"mentors\[0\]: must be an object"),
        (
            instance(mentors=[{"id": "m1", "capacity": 1}, {"id": "m1", "capacity": 1}]),
            r"mentors\[1\].id: duplicate mentor id 'm1'",
        ),
        (instance(mentees=[{"id": "s1"}, {"id": "s1"}]), r"mentees\[1\].id: duplicate mentee"),
        (instance(mentees=[{"id": 7}]), r"mentees\[0\].id: must be a non-empty string"),
        (
            instance(mentors=[{"id": "m1", "capacity": -1}]),
            r"mentors\[0\].capacity: must be >= 0",
        ),
        (
            instance(mentors=[{"id": "m1", "capacity": 1.5}]),
            r"mentors\[0\].capacity: must be an integer",
        ),
        (
            instance(mentors=[{"id": "m1", "capacity": True}]),
            r"mentors\[0\].capacity: must be an integer",
        ),
        (
            instance(pairs=_pairs({"mentor": "m9", "mentee": "s1", "score": 1})),
            r"pairs\[1\].mentor: unknown mentor id 'm9'",
        ),
        (
            instance(pairs=_pairs({"mentor": "m1", "mentee": "s9", "score": 1})),
            r"pairs\[1\].mentee: unknown mentee id 's9'",
        ),
        (
            instance(pairs=_pairs({"mentor": "m1", "mentee": "s1", "score": 0.1})),
            r"pairs\[1\]: duplicate pair mentor 'm1' / mentee 's1'",
        ),
        (
            instance(pairs=[{"mentor": "m1", "mentee": "s1", "score": "high"}]),
            r"pairs\[0\].score: must be a number",
        ),
        (
            instance(pairs=[{"mentor": "m1", "mentee": "s1", "score": float("nan")}]),
            r"pairs\[0\].score: must be a finite number",
        ),
        (
            instance(pairs=[{"mentor": "m1", "mentee": "s1", "score": float("inf")}]),
            r"pairs\[0\].score: must be a finite number",
        ),
        (instance(pairs=[{"mentor": "m1", "mentee": "s1"}]), r"pairs\[0\]: 'score' is required"),
        (instance(objective="fairest"), "objective: must be one of"),
    ],
)
def test_validation_errors(data: Any, message: str) -> None:
    with pytest.raises(MatchInputError, match=message):
        parse_instance(data)


def test_text_errors() -> None:
    with pytest.raises(MatchInputError, match="invalid JSON at line 1"):
        parse_instance_text("{not json")
    text = '{"mentors": [{"id": "m1", "capacity": 1}], "mentees": [{"id": "s1"}], '
    text += '"pairs": [{"mentor": "m1", "mentee": "s1", "score": NaN}]}'
    with pytest.raises(MatchInputError, match="invalid JSON number NaN"):
        parse_instance_text(text)


def test_error_names_the_field() -> None:
    with pytest.raises(MatchInputError) as info:
        parse_instance(instance(pairs=[{"mentor": "zz", "mentee": "s1", "score": 1}]))
    assert info.value.field == "pairs"
