"""Synthetic but realistic candidates for benchmarks, demos and tests (seeded, no I/O).

One organization; a management tree of seniors with juniors reporting into it (so chains
exist at every depth); departments and divisions; grades 2–6 for juniors and 6–11 for
seniors; languages (mostly English, often German); a handful of time zones; 24 topics;
a few avoid, prefer and previous-partner links.
"""

from __future__ import annotations

import numpy as np

from plugin.matching.records import Candidate

__all__ = ["TOPICS", "synthetic_candidates"]

#: Topic codes used by the generator.
TOPICS: tuple[str, ...] = (
    "ai_tools", "prompting", "data_literacy", "social_media", "video_calls", "collab_tools",
    "cloud_basics", "cybersecurity", "agile", "remote_work", "genz_expectations", "dei",
    "personal_branding", "podcasting", "no_code", "spreadsheets", "analytics", "ux_basics",
    "ecommerce", "messaging", "digital_wellbeing", "sustainability", "onboarding", "feedback",
)  # fmt: skip
_DEPARTMENTS = (
    ("Sales", "Commercial"), ("Marketing", "Commercial"), ("Customer Service", "Commercial"),
    ("IT", "Technology"), ("Data", "Technology"), ("Engineering", "Technology"),
    ("Finance", "Corporate"), ("HR", "Corporate"), ("Legal", "Corporate"),
    ("Operations", "Operations"), ("Logistics", "Operations"), ("Procurement", "Operations"),
)  # fmt: skip
_TZ = (0, 60, 60, 60, 120, -300, 330, 480)
_LANGS = ("de", "fr", "es", "pl", "it")


def synthetic_candidates(
    n_mentees: int, n_mentors: int, *, seed: int = 1, org_id: str = "org1"
) -> tuple[list[Candidate], list[Candidate]]:
    """Generate mentors (juniors) and mentees (seniors).

    Mentor capacities average about ``n_mentees / n_mentors`` (at least 1) so supply roughly
    meets demand.

    Args:
        n_mentees: Seniors to generate.
        n_mentors: Juniors to generate.
        seed: Random seed.
        org_id: Organization of everyone.

    Returns:
        ``(mentors, mentees)``.
    """
    rng = np.random.default_rng(seed)
    n_topics = len(TOPICS)
    # Seniors form a tree: manager of senior i is an earlier senior (shallow, ~log depth).
    mgr = np.full(n_mentees, -1)
    if n_mentees > 1:
        mgr[1:] = (rng.random(n_mentees - 1) * (np.arange(1, n_mentees) / 3)).astype(int)
    chains: list[frozenset[str]] = []
    for i in range(n_mentees):
        m = int(mgr[i])
        chains.append(frozenset() if m < 0 else chains[m] | {f"s{m}"})
    mean_cap = max(1.0, n_mentees / max(1, n_mentors))

    def common(n: int) -> tuple[np.ndarray, np.ndarray, list[frozenset[str]]]:
        dept = rng.integers(0, len(_DEPARTMENTS), n)
        tz = rng.integers(0, len(_TZ), n)
        langs = []
        for _ in range(n):
            have = {"en"} if rng.random() < 0.85 else set()
            if rng.random() < 0.5:
                have.add("de")
            if rng.random() < 0.15:
                have.add(_LANGS[int(rng.integers(1, len(_LANGS)))])
            langs.append(frozenset(have or {"de"}))
        return dept, tz, langs

    s_dept, s_tz, s_langs = common(n_mentees)
    s_grade = rng.integers(6, 12, n_mentees)
    mentees: list[Candidate] = []
    for i in range(n_mentees):
        topics = rng.choice(n_topics, int(rng.integers(2, 5)), replace=False)
        wanted = {TOPICS[t]: int(rng.integers(2, 6)) for t in topics}
        skills = {TOPICS[t]: int(rng.integers(1, 4)) for t in topics if rng.random() < 0.7}
        dept, div = _DEPARTMENTS[int(s_dept[i])]
        mentees.append(
            Candidate(
                id=f"s{i}",
                role="mentee",
                org_id=org_id,
                department=dept,
                division=div,
                grade=int(s_grade[i]),
                languages=s_langs[i],
                utc_offset_minutes=_TZ[int(s_tz[i])],
                topics_wanted=wanted,
                skill_levels=skills,
                chain=chains[i],
                avoid=frozenset({f"m{rng.integers(n_mentors)}"})
                if n_mentors and rng.random() < 0.01
                else frozenset(),
                prefer=frozenset({f"m{rng.integers(n_mentors)}"})
                if n_mentors and rng.random() < 0.02
                else frozenset(),
                previous_partners=frozenset({f"m{rng.integers(n_mentors)}"})
                if n_mentors and rng.random() < 0.03
                else frozenset(),
                display_name=f"Senior {i}",
            )
        )
    j_dept, j_tz, j_langs = common(n_mentors)
    j_grade = rng.integers(2, 7, n_mentors)
    caps = np.clip(rng.poisson(mean_cap, n_mentors), 1, None)
    mentors: list[Candidate] = []
    for j in range(n_mentors):
        boss = int(rng.integers(n_mentees)) if n_mentees else -1
        chain = chains[boss] | {f"s{boss}"} if boss >= 0 else frozenset()
        topics = rng.choice(n_topics, int(rng.integers(2, 6)), replace=False)
        dept, div = _DEPARTMENTS[int(j_dept[j])]
        mentors.append(
            Candidate(
                id=f"m{j}",
                role="mentor",
                org_id=org_id,
                department=dept,
                division=div,
                grade=int(j_grade[j]),
                languages=j_langs[j],
                utc_offset_minutes=_TZ[int(j_tz[j])],
                topics_offered={TOPICS[t]: int(rng.integers(3, 6)) for t in topics},
                capacity=int(caps[j]),
                chain=frozenset(chain),
                display_name=f"Junior {j}",
            )
        )
    return mentors, mentees
