"""Typed records of the matching engine: inputs (candidates, settings, locks) and results.

All records are frozen dataclasses. Inputs validate themselves in ``__post_init__`` and raise
:class:`~plugin.matching.errors.MatchInputError` naming the field at fault, so a caller that
builds them from database rows or JSON gets a precise message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from plugin.matching.errors import MatchInputError

__all__ = [
    "LANGUAGES",
    "BrokenLock",
    "Candidate",
    "Factor",
    "FactorContribution",
    "Format",
    "HardRules",
    "LockViolation",
    "LockedTandem",
    "MatchResult",
    "MatchSettings",
    "MatchStats",
    "MatchWeights",
    "Objective",
    "PairBreakdown",
    "Role",
    "Rule",
    "Tandem",
    "UnmatchedPerson",
    "UnmatchedReason",
]

Role = Literal["mentor", "mentee"]
Format = Literal["one_to_one", "group", "bidirectional"]
Objective = Literal["best_total", "most_matched"]
ParamValue = str | int | float

#: Languages the explanation texts can name (code -> {"en": name, "de": name}).
LANGUAGES: Mapping[str, Mapping[str, str]] = {
    "de": {"en": "German", "de": "Deutsch"},
    "en": {"en": "English", "de": "Englisch"},
    "fr": {"en": "French", "de": "Französisch"},
    "es": {"en": "Spanish", "de": "Spanisch"},
    "it": {"en": "Italian", "de": "Italienisch"},
    "nl": {"en": "Dutch", "de": "Niederländisch"},
    "pl": {"en": "Polish", "de": "Polnisch"},
    "pt": {"en": "Portuguese", "de": "Portugiesisch"},
    "tr": {"en": "Turkish", "de": "Türkisch"},
    "zh": {"en": "Chinese", "de": "Chinesisch"},
    "ja": {"en": "Japanese", "de": "Japanisch"},
    "hi": {"en": "Hindi", "de": "Hindi"},
    "ar": {"en": "Arabic", "de": "Arabisch"},
}

_FORMATS = ("one_to_one", "group", "bidirectional")
_OBJECTIVES = ("best_total", "most_matched")


class Rule(StrEnum):
    """A hard rule; a pair failing any of them is removed before solving (never penalised)."""

    DIFFERENT_ORG = "different_org"
    AVOID = "avoid"
    MANAGEMENT_CHAIN = "management_chain"
    SENIORITY_BAND = "seniority_band"
    NO_SHARED_LANGUAGE = "no_shared_language"
    TIMEZONE = "timezone"


class Factor(StrEnum):
    """A scoring factor; each pair score is the weighted sum of their values."""

    TOPIC_FIT = "topic_fit"
    CROSS_DEPARTMENT = "cross_department"
    SENIORITY_GAP = "seniority_gap"
    SHARED_LANGUAGE = "shared_language"
    TIMEZONE = "timezone"
    PREFERENCE = "preference"
    PREVIOUS_PAIRING = "previous_pairing_penalty"


class UnmatchedReason(StrEnum):
    """Why a person ended up without a tandem."""

    NO_CANDIDATES = "no_candidates"
    """Every potential partner was removed by a hard rule."""
    ONLY_NEGATIVE = "only_negative"
    """Under ``best_total`` every remaining partner had a score of zero or less."""
    CAPACITY = "capacity"
    """Suitable partners existed but their places went to others (they are at capacity)."""
    PARTNERS_TAKEN = "partners_taken"
    """(Mentors) every suitable mentee was matched with someone else."""
    GROUP_NOT_FORMED = "group_not_formed"
    """(Group format) no complete group of the required shape could include this person."""
    NOT_SELECTED = "not_selected"
    """Suitable partners had room, but the solver stopped before proving a better plan."""


def _fail(field_name: str, message: str) -> MatchInputError:
    return MatchInputError(f"{field_name}: {message}", field=field_name)


def _check_levels(name: str, levels: Mapping[str, int]) -> None:
    for key, level in levels.items():
        if not isinstance(key, str) or not key:
            raise _fail(name, f"topic codes must be non-empty strings, got {key!r}")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise _fail(f"{name}[{key}]", f"level must be an integer 1..5, got {level!r}")


@dataclass(frozen=True)
class Candidate:
    """One enrolled person, as the scorer sees them.

    Attributes:
        id: Stable id (e.g. the enrollment or person id); unique within one run.
        role: ``"mentor"`` (the junior who teaches) or ``"mentee"`` (the senior who learns).
        org_id: Organization (tenant); pairs never cross organizations.
        department: Department name, or None when unknown.
        division: Division name, or None when unknown.
        grade: Job level; higher is more senior. None when unknown (the seniority rule then
            cannot be checked and passes; the seniority factor scores 0).
        languages: Language codes the person can hold sessions in (e.g. ``"de"``).
        utc_offset_minutes: Offset of the person's time zone from UTC, or None.
        topics_offered: Topic code -> level 1..5 the person can teach (mentors).
        topics_wanted: Topic code -> 1..5, how much the person wants it (mentees).
        skill_levels: Topic code -> current level 1..5 (HRIS rating or pre-assessment);
            the lower it is, the more a wanted topic weighs.
        capacity: Mentors: how many mentees (or groups) they take. Mentees: 1.
        avoid: Ids of people never to be paired with.
        prefer: Ids of people this person would like to be paired with.
        chain: Ids of all managers above this person, any depth (from the org chart).
        previous_partners: Ids of people this person was paired with before.
        display_name: Name used in explanation texts; falls back to ``id``.
    """

    id: str
    role: Role
    org_id: str
    department: str | None = None
    division: str | None = None
    grade: int | None = None
    languages: frozenset[str] = frozenset()
    utc_offset_minutes: int | None = None
    topics_offered: Mapping[str, int] = field(default_factory=dict)
    topics_wanted: Mapping[str, int] = field(default_factory=dict)
    skill_levels: Mapping[str, int] = field(default_factory=dict)
    capacity: int = 1
    avoid: frozenset[str] = frozenset()
    prefer: frozenset[str] = frozenset()
    chain: frozenset[str] = frozenset()
    previous_partners: frozenset[str] = frozenset()
    display_name: str | None = None

    def __post_init__(self) -> None:
        """Validate and normalise (language codes lower-cased, sets frozen)."""
        where = f"candidate {self.id!r}"
        if not isinstance(self.id, str) or not self.id:
            raise _fail("id", f"must be a non-empty string, got {self.id!r}")
        if self.role not in ("mentor", "mentee"):
            raise _fail(f"{where}.role", f"must be 'mentor' or 'mentee', got {self.role!r}")
        if not isinstance(self.org_id, str) or not self.org_id:
            raise _fail(f"{where}.org_id", "must be a non-empty string")
        if self.grade is not None and (
            isinstance(self.grade, bool) or not isinstance(self.grade, int)
        ):
            raise _fail(f"{where}.grade", f"must be an integer or None, got {self.grade!r}")
        if self.grade is not None and not -1000 <= self.grade <= 1000:
            raise _fail(f"{where}.grade", f"must be within -1000..1000, got {self.grade}")
        if self.utc_offset_minutes is not None and (
            isinstance(self.utc_offset_minutes, bool)
            or not isinstance(self.utc_offset_minutes, int)
            or not -14 * 60 <= self.utc_offset_minutes <= 14 * 60
        ):
            raise _fail(f"{where}.utc_offset_minutes", "must be an integer in -840..840")
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int):
            raise _fail(f"{where}.capacity", f"must be an integer, got {self.capacity!r}")
        if self.capacity < 0:
            raise _fail(f"{where}.capacity", f"must be >= 0, got {self.capacity}")
        if self.role == "mentee" and self.capacity > 1:
            raise _fail(f"{where}.capacity", "a mentee takes at most one mentor (0 or 1)")
        _check_levels(f"{where}.topics_offered", self.topics_offered)
        _check_levels(f"{where}.topics_wanted", self.topics_wanted)
        _check_levels(f"{where}.skill_levels", self.skill_levels)
        object.__setattr__(
            self, "languages", frozenset(lang.strip().lower() for lang in self.languages)
        )
        for name in ("avoid", "prefer", "chain", "previous_partners"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        for name in ("topics_offered", "topics_wanted", "skill_levels"):
            object.__setattr__(self, name, dict(getattr(self, name)))

    @property
    def name(self) -> str:
        """The name used in explanation texts."""
        return self.display_name or self.id


def _check_weight(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise _fail(name, f"must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class MatchWeights:
    """Per-program weights of the scoring factors (all >= 0).

    The defaults of the positive factors sum to 1, so a pair score lies in [0, 1] before the
    previous-pairing penalty, which is subtracted.
    """

    topic_fit: float = 0.40
    cross_department: float = 0.15
    seniority_gap: float = 0.10
    shared_language: float = 0.05
    timezone: float = 0.10
    preference: float = 0.20
    previous_pairing_penalty: float = 0.25

    def __post_init__(self) -> None:
        """Validate every weight."""
        for factor in Factor:
            _check_weight(f"weights.{factor.value}", self.weight(factor))
        if all(self.weight(f) == 0 for f in Factor if f is not Factor.PREVIOUS_PAIRING):
            raise _fail("weights", "at least one positive factor needs a weight > 0")

    def weight(self, factor: Factor) -> float:
        """The weight of one factor.

        Args:
            factor: The factor.

        Returns:
            Its weight.
        """
        value: float = getattr(self, factor.value)
        return value


@dataclass(frozen=True)
class HardRules:
    """Settings of the hard rules that remove pairs before solving.

    Same organization, no management chain (either direction, any depth) and avoid lists
    (either side) always apply. ``min_grade_gap``/``max_grade_gap`` bound
    ``mentee.grade - mentor.grade`` (the mentor must be junior: ``min_grade_gap >= 1`` by
    default); either bound may be None. In the bidirectional format only
    ``abs(gap) <= max_grade_gap`` is checked.

    Attributes:
        max_timezone_hours: Largest allowed UTC offset difference in hours, or None.
        min_grade_gap: Smallest allowed grade gap (senior minus junior), or None.
        max_grade_gap: Largest allowed grade gap, or None.
        require_shared_language: Remove pairs without a common language.
    """

    max_timezone_hours: float | None = None
    min_grade_gap: int | None = 1
    max_grade_gap: int | None = None
    require_shared_language: bool = True

    def __post_init__(self) -> None:
        """Validate the rule settings."""
        tz = self.max_timezone_hours
        if tz is not None:
            _check_weight("rules.max_timezone_hours", tz)
        for name in ("min_grade_gap", "max_grade_gap"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise _fail(f"rules.{name}", f"must be an integer or None, got {value!r}")
        lo, hi = self.min_grade_gap, self.max_grade_gap
        if lo is not None and hi is not None and lo > hi:
            raise _fail("rules.max_grade_gap", f"must be >= min_grade_gap ({lo}), got {hi}")
        if not isinstance(self.require_shared_language, bool):
            raise _fail("rules.require_shared_language", "must be true or false")


def _check_range(name: str, value: tuple[int, int], lo: int, hi: int) -> None:
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )
    if not ok or not lo <= value[0] <= value[1] <= hi:
        raise _fail(name, f"must be (min, max) with {lo} <= min <= max <= {hi}, got {value!r}")


@dataclass(frozen=True)
class MatchSettings:
    """Everything a program decides about matching.

    Attributes:
        weights: Factor weights.
        rules: Hard-rule settings.
        format: ``one_to_one`` (a mentor takes up to ``capacity`` mentees), ``group``
            (1–2 seniors with 3–4 juniors) or ``bidirectional`` (peer pairs, both teach).
        objective: ``best_total`` (largest total score; pairs scoring <= 0 are never
            formed) or ``most_matched`` (most people matched first, then largest total;
            a feasible pair with a negative score is formed when it adds a match).
        seniors_per_group: (min, max) seniors (mentees) per group, within 1..2.
        juniors_per_group: (min, max) juniors (mentors) per group, within 1..8.
        top_k: One-to-one: candidate mentors kept per mentee before solving. Pruning is
            checked afterwards by LP duality, so it affects speed, not the result.
        top_k_per_mentor: One-to-one: candidate mentees kept per mentor; None = automatic
            (twice the largest capacity plus 8).
        max_pricing_rounds: One-to-one: rounds of "add violated pruned pairs and re-solve"
            before giving up on the optimality proof and reporting the gap.
        block_rows: Mentees scored per block (memory ~ ``block_rows * mentors * 30`` bytes).
        time_limit_seconds: Limit for the CP-SAT solvers (group, bidirectional).
        max_model_pairs: Group/bidirectional: largest model before candidates are pruned
            (then optimality is not claimed and a gap is reported).
    """

    weights: MatchWeights = field(default_factory=MatchWeights)
    rules: HardRules = field(default_factory=HardRules)
    format: Format = "one_to_one"
    objective: Objective = "best_total"
    seniors_per_group: tuple[int, int] = (1, 2)
    juniors_per_group: tuple[int, int] = (3, 4)
    top_k: int = 40
    top_k_per_mentor: int | None = None
    max_pricing_rounds: int = 8
    block_rows: int = 512
    time_limit_seconds: float = 30.0
    max_model_pairs: int = 150_000

    def __post_init__(self) -> None:
        """Validate the settings."""
        if not isinstance(self.weights, MatchWeights):
            raise _fail("weights", "must be MatchWeights")
        if not isinstance(self.rules, HardRules):
            raise _fail("rules", "must be HardRules")
        if self.format not in _FORMATS:
            raise _fail("format", f"must be one of {', '.join(_FORMATS)}, got {self.format!r}")
        if self.objective not in _OBJECTIVES:
            raise _fail(
                "objective", f"must be one of {', '.join(_OBJECTIVES)}, got {self.objective!r}"
            )
        _check_range("seniors_per_group", self.seniors_per_group, 1, 2)
        _check_range("juniors_per_group", self.juniors_per_group, 1, 8)
        for name in ("top_k", "max_pricing_rounds", "block_rows", "max_model_pairs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _fail(name, f"must be an integer >= 1, got {value!r}")
        tkm = self.top_k_per_mentor
        if tkm is not None and (isinstance(tkm, bool) or not isinstance(tkm, int) or tkm < 1):
            raise _fail("top_k_per_mentor", f"must be an integer >= 1 or None, got {tkm!r}")
        _check_weight("time_limit_seconds", self.time_limit_seconds)
        if self.time_limit_seconds <= 0:
            raise _fail("time_limit_seconds", "must be > 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MatchSettings:
        """Build settings from a JSON-like mapping (e.g. a program's stored settings).

        Unknown keys are refused so a typo never silently falls back to a default.

        Args:
            data: ``{"weights": {...}, "rules": {...}, "format": ..., "objective": ...,
                "seniors_per_group": [1, 2], "juniors_per_group": [3, 4], ...}``.

        Returns:
            The validated settings.

        Raises:
            MatchInputError: On unknown keys or invalid values.
        """
        if not isinstance(data, Mapping):
            raise _fail("settings", "must be an object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _fail("settings", f"unknown keys: {', '.join(map(str, unknown))}")
        kwargs: dict[str, Any] = dict(data)
        for key, sub in (("weights", MatchWeights), ("rules", HardRules)):
            if key in kwargs:
                value = kwargs[key]
                if not isinstance(value, Mapping):
                    raise _fail(key, "must be an object")
                sub_known = set(sub.__dataclass_fields__)
                bad = sorted(set(value) - sub_known)
                if bad:
                    raise _fail(key, f"unknown keys: {', '.join(map(str, bad))}")
                kwargs[key] = sub(**value)
        for key in ("seniors_per_group", "juniors_per_group"):
            if key in kwargs and isinstance(kwargs[key], list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


@dataclass(frozen=True)
class LockedTandem:
    """A tandem kept from an earlier run.

    One-to-one: one mentor and up to ``capacity`` mentees. Group: the group's juniors
    (``mentor_ids``) and seniors (``mentee_ids``). Bidirectional: one id on each side.
    """

    mentor_ids: tuple[str, ...]
    mentee_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        """Validate that both sides are non-empty tuples of ids."""
        for name in ("mentor_ids", "mentee_ids"):
            ids = tuple(getattr(self, name))
            if not ids or not all(isinstance(i, str) and i for i in ids):
                raise _fail(f"locked.{name}", f"must be a non-empty list of ids, got {ids!r}")
            object.__setattr__(self, name, ids)

    @classmethod
    def one(cls, mentor_id: str, *mentee_ids: str) -> LockedTandem:
        """Lock a mentor with one or more mentees.

        Args:
            mentor_id: The mentor (junior).
            *mentee_ids: The mentees (seniors).

        Returns:
            The lock.
        """
        return cls(mentor_ids=(mentor_id,), mentee_ids=tuple(mentee_ids))


@dataclass(frozen=True)
class FactorContribution:
    """One factor of a score, kept for the explanation.

    Attributes:
        key: The factor.
        weight: The program's weight of the factor.
        value: The factor's value in [0, 1].
        contribution: What it adds to the score (``weight * value``; negative for the
            previous-pairing penalty).
        params: What the text needs (topic, level, names, languages, hours ...).
    """

    key: Factor
    weight: float
    value: float
    contribution: float
    params: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class PairBreakdown:
    """Score and factors of one (mentor, mentee) pair; in a group, one per member pair."""

    mentor_id: str
    mentee_id: str
    score: float
    factors: tuple[FactorContribution, ...]


@dataclass(frozen=True)
class Tandem:
    """A pair or group the run produced (or kept, when ``locked``).

    Attributes:
        mentor_ids: The junior(s). Bidirectional: the first peer.
        mentee_ids: The senior(s). Bidirectional: the second peer.
        score: Sum of the member pairs' scores (bidirectional: mean of both directions).
        pairs: Breakdown per member pair.
        explanation: Language (``"en"``, ``"de"``) -> sentences, strongest factor first.
        locked: True when the tandem was kept from a lock.
    """

    mentor_ids: tuple[str, ...]
    mentee_ids: tuple[str, ...]
    score: float
    pairs: tuple[PairBreakdown, ...]
    explanation: Mapping[str, tuple[str, ...]]
    locked: bool = False

    @property
    def factors(self) -> tuple[FactorContribution, ...]:
        """All member pairs' factor contributions, largest first."""
        all_factors = [f for p in self.pairs for f in p.factors]
        return tuple(sorted(all_factors, key=lambda f: -abs(f.contribution)))


@dataclass(frozen=True)
class UnmatchedPerson:
    """Someone the run left without a tandem (mentors: without any mentee).

    Attributes:
        person_id: The candidate id.
        role: ``mentor`` or ``mentee``.
        reason: The classified reason.
        counts: Numbers behind the reason: ``candidates`` (potential partners),
            ``feasible`` (left after the hard rules), ``positive`` (feasible with a score
            above 0), ``at_capacity`` and one count per :class:`Rule` value (pairs that rule
            removed; a pair can fail several rules).
        explanation: Language -> one sentence.
        spare_capacity: Places left (mentors).
    """

    person_id: str
    role: Role
    reason: UnmatchedReason
    counts: Mapping[str, int]
    explanation: Mapping[str, str]
    spare_capacity: int = 0


@dataclass(frozen=True)
class LockViolation:
    """One hard rule a locked tandem now breaks."""

    mentor_id: str
    mentee_id: str
    rule: Rule
    explanation: Mapping[str, str]


@dataclass(frozen=True)
class BrokenLock:
    """A locked tandem that no longer passes the hard rules.

    Attributes:
        lock: The lock as given.
        violations: Every broken rule, per member pair.
        released: True when its members were put back into the pool and re-matched.
    """

    lock: LockedTandem
    violations: tuple[LockViolation, ...]
    released: bool


@dataclass(frozen=True)
class MatchStats:
    """Counts of one run.

    Attributes:
        mentors: Mentor candidates (bidirectional: all peers).
        mentees: Mentee candidates (bidirectional: 0).
        pairs_considered: Potential pairs looked at.
        feasible_pairs: Pairs left after the hard rules.
        solver_pairs: Pairs handed to the solver (after pruning and pricing).
        pruned_pairs: Feasible pairs not handed to the solver.
        pricing_rounds: One-to-one: solves needed until the duality check passed.
        removed_by_rule: Rule -> number of pairs it removed (overlapping).
    """

    mentors: int
    mentees: int
    pairs_considered: int
    feasible_pairs: int
    solver_pairs: int
    pruned_pairs: int
    pricing_rounds: int
    removed_by_rule: Mapping[str, int]


@dataclass(frozen=True)
class MatchResult:
    """Outcome of :func:`plugin.matching.match`.

    Attributes:
        format: The program format.
        objective: The objective used.
        tandems: Formed and locked tandems.
        unmatched: Mentees without a mentor and mentors without any mentee, with reasons.
        total_score: Sum of all tandem scores (including locked tandems).
        matched_mentees: Mentees in a tandem (bidirectional: peers in a pair).
        optimal: True when the plan is proven optimal for the whole instance (scores
            rounded to 1e-6), not just for the pruned candidate set.
        gap: Upper bound minus achieved objective, in score units (0 when optimal; None
            when no bound is known).
        solver: Name of the solver used.
        stats: Counts.
        timings: Stage -> seconds.
        broken_locks: Locks that failed the hard rules.
    """

    format: Format
    objective: Objective
    tandems: tuple[Tandem, ...]
    unmatched: tuple[UnmatchedPerson, ...]
    total_score: float
    matched_mentees: int
    optimal: bool
    gap: float | None
    solver: str
    stats: MatchStats
    timings: Mapping[str, float]
    broken_locks: tuple[BrokenLock, ...] = ()
