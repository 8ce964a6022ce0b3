from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest

from plugin.matching import (
    Candidate,
    LockedTandem,
    MatchSettings,
    Rule,
    UnmatchedReason,
    match,
    pair_score,
    pair_violations,
)

from .helpers import mentee, mentor


def _conflict(a: Candidate, b: Candidate) -> bool:
    return a.id in b.avoid or b.id in a.avoid or a.id in b.chain or b.id in a.chain


def _random_people(
    rng: random.Random, n_s: int, n_j: int
) -> tuple[list[Candidate], list[Candidate]]:
    topics = ["a", "b", "c"]
    seniors = [
        mentee(
            f"s{i}",
            grade=rng.randint(6, 9),
            department=rng.choice(["IT", "Sales"]),
            topics_wanted={t: rng.randint(1, 5) for t in rng.sample(topics, 2)},
            previous_partners=frozenset({f"j{rng.randint(0, n_j)}"}),
        )
        for i in range(n_s)
    ]
    juniors = [
        mentor(
            f"j{j}",
            grade=rng.randint(2, 6),
            department=rng.choice(["IT", "HR"]),
            languages=frozenset(rng.choice([{"de"}, {"de", "en"}, {"en"}])),
            topics_offered={t: rng.randint(1, 5) for t in rng.sample(topics, 2)},
            chain=frozenset({"s0"}) if rng.random() < 0.2 else frozenset(),
        )
        for j in range(n_j)
    ]
    return juniors, seniors


def brute_groups(
    juniors: Sequence[Candidate], seniors: Sequence[Candidate], settings: MatchSettings
) -> tuple[int, float]:
    (s_lo, s_hi), (j_lo, j_hi) = settings.seniors_per_group, settings.juniors_per_group
    groups: list[tuple[frozenset[str], int, float]] = []
    for ns in range(s_lo, s_hi + 1):
        for ss in itertools.combinations(seniors, ns):
            if any(_conflict(a, b) for a, b in itertools.combinations(ss, 2)):
                continue
            for nj in range(j_lo, j_hi + 1):
                for js in itertools.combinations(juniors, nj):
                    if any(_conflict(a, b) for a, b in itertools.combinations(js, 2)):
                        continue
                    if any(pair_violations(j, s, settings.rules) for s in ss for j in js):
                        continue
                    value = sum(pair_score(j, s, settings) for s in ss for j in js)
                    ids = frozenset(p.id for p in (*ss, *js))
                    groups.append((ids, len(ids), value))
    most = settings.objective == "most_matched"
    best: tuple[float, float] = (0, 0.0)

    def search(start: int, used: frozenset[str], count: int, total: float) -> None:
        nonlocal best
        key = (count, total) if most else (0, total)
        if key > (best if most else (0, best[1])):
            best = (count, total)
        for k in range(start, len(groups)):
            ids, n, value = groups[k]
            if not ids & used:
                search(k + 1, used | ids, count + n, total + value)

    search(0, frozenset(), 0, 0.0)
    return int(best[0]), best[1]


@pytest.mark.parametrize("objective", ["best_total", "most_matched"])
@pytest.mark.parametrize(("shape_s", "shape_j"), [((1, 2), (2, 3)), ((1, 1), (2, 2))])
def test_groups_are_exact_against_brute_force(
    objective: str, shape_s: tuple[int, int], shape_j: tuple[int, int]
) -> None:
    rng = random.Random(5)
    for _ in range(6):
        juniors, seniors = _random_people(rng, 3, rng.randint(4, 6))
        settings = MatchSettings(
            format="group",
            objective=objective,  # type: ignore[arg-type]
            seniors_per_group=shape_s,
            juniors_per_group=shape_j,
        )
        result = match(juniors, seniors, settings)
        count, total = brute_groups(juniors, seniors, settings)
        assert result.optimal
        placed = sum(len(t.mentor_ids) + len(t.mentee_ids) for t in result.tandems)
        if objective == "most_matched":
            assert placed == count
        assert result.total_score == pytest.approx(total, abs=1e-4)
        for t in result.tandems:
            assert shape_s[0] <= len(t.mentee_ids) <= shape_s[1]
            assert shape_j[0] <= len(t.mentor_ids) <= shape_j[1]


def test_group_unmatched_and_locks() -> None:
    seniors = [mentee("s0"), mentee("s1")]
    juniors = [mentor(f"j{j}") for j in range(7)]
    settings = MatchSettings(format="group", seniors_per_group=(1, 1), juniors_per_group=(3, 4))
    locked = LockedTandem(mentor_ids=("j0", "j1", "j2"), mentee_ids=("s0",))
    result = match(juniors, seniors, settings, locked=[locked])
    assert result.tandems[0].locked
    assert result.tandems[0].score == pytest.approx(3 * result.tandems[0].pairs[0].score)
    new = result.tandems[1]
    assert new.mentee_ids == ("s1",)
    assert len(new.mentor_ids) == 4
    # Break the lock: s0 now manages j1.
    juniors[1] = mentor("j1", chain=frozenset({"s0"}))
    result = match(juniors, seniors, settings, locked=[locked])
    assert result.broken_locks[0].violations[0].rule is Rule.MANAGEMENT_CHAIN
    assert not any(t.locked for t in result.tandems)
    # 7 juniors, 2 seniors with groups of 3-4: everyone fits except one junior at most.
    assert len(result.unmatched) <= 1
    for u in result.unmatched:
        assert u.reason in (UnmatchedReason.GROUP_NOT_FORMED, UnmatchedReason.NO_CANDIDATES)
        assert u.explanation["en"]
        assert u.explanation["de"]


def brute_peers(people: Sequence[Candidate], settings: MatchSettings) -> tuple[int, float]:
    most = settings.objective == "most_matched"
    pair: dict[tuple[int, int], float] = {}
    for a, b in itertools.combinations(range(len(people)), 2):
        pa, pb = people[a], people[b]
        if pair_violations(pa, pb, settings.rules, peers=True):
            continue
        value = (
            pair_score(pa, pb, settings, peers=True) + pair_score(pb, pa, settings, peers=True)
        ) / 2
        if most or round(value * 1e6) > 0:
            pair[a, b] = value
    best = (0, 0.0)

    def search(i: int, used: frozenset[int], count: int, total: float) -> None:
        nonlocal best
        if i == len(people):
            key = (count, total) if most else (0, total)
            if key > (best if most else (0, best[1])):
                best = (count, total)
            return
        search(i + 1, used, count, total)
        if i in used:
            return
        for j in range(i + 1, len(people)):
            if j not in used and (i, j) in pair:
                search(i + 1, used | {i, j}, count + 1, total + pair[i, j])

    search(0, frozenset(), 0, 0.0)
    return best[0], best[1]


@pytest.mark.parametrize("objective", ["best_total", "most_matched"])
def test_bidirectional_is_exact_against_brute_force(objective: str) -> None:
    rng = random.Random(9)
    for _ in range(8):
        juniors, seniors = _random_people(rng, 3, rng.randint(2, 4))
        settings = MatchSettings(format="bidirectional", objective=objective)  # type: ignore[arg-type]
        result = match(juniors, seniors, settings)
        count, total = brute_peers([*juniors, *seniors], settings)
        assert result.optimal
        assert len(result.tandems) == count
        assert result.total_score == pytest.approx(total, abs=1e-4)
        for t in result.tandems:
            assert len(t.pairs) == 2
            assert t.score == pytest.approx((t.pairs[0].score + t.pairs[1].score) / 2)


def test_bidirectional_unmatched_peer_has_a_reason() -> None:
    people = [mentor("a"), mentor("b"), mentor("c", languages=frozenset({"fr"}))]
    result = match(people, [], MatchSettings(format="bidirectional"))
    assert len(result.tandems) == 1
    (u,) = result.unmatched
    assert u.person_id == "c"
    assert u.reason is UnmatchedReason.NO_CANDIDATES
    assert "no candidate shares a language" in u.explanation["en"]


def test_empty_inputs() -> None:
    assert match([], []).tandems == ()
    only = match([mentor("m")], [])
    assert only.unmatched[0].reason is UnmatchedReason.NO_CANDIDATES
    assert "no candidates in the other role" in only.unmatched[0].explanation["en"]
    assert match([], [mentee("s")]).unmatched[0].person_id == "s"
    assert match([], [], MatchSettings(format="group")).tandems == ()
    assert match([], [], MatchSettings(format="bidirectional")).tandems == ()


@pytest.mark.parametrize("fmt", ["group", "bidirectional"])
def test_pruned_cohort_models_never_claim_optimality(fmt: str) -> None:
    juniors, seniors = _random_people(random.Random(2), 4, 10)
    settings = MatchSettings(format=fmt, max_model_pairs=5, juniors_per_group=(2, 3))  # type: ignore[arg-type]
    result = match(juniors, seniors, settings)
    full = match(juniors, seniors, MatchSettings(format=fmt, juniors_per_group=(2, 3)))  # type: ignore[arg-type]
    assert result.optimal is False
    assert result.stats.pruned_pairs > 0
    assert result.gap is not None
    # The reported gap is an honest bound: it covers the distance to the true optimum.
    assert result.total_score + result.gap >= full.total_score - 1e-6
