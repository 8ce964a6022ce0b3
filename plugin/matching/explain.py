"""Plain-language explanations in English and German.

Tandems get one sentence per strong factor (largest contribution first); unmatched people get
one sentence with the counts behind their reason; broken locks get one sentence per rule.
Texts use ``display_name`` (or the id) of candidates, department names as given, topic
labels when the caller passes them (``topic code -> label``) and language names from
:data:`~plugin.matching.records.LANGUAGES`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from plugin.matching.records import (
    LANGUAGES,
    Factor,
    FactorContribution,
    Rule,
    UnmatchedReason,
)

__all__ = [
    "LANGS",
    "explain_factors",
    "explain_unmatched",
    "explain_violation",
    "language_name",
]

#: Languages every text is rendered in.
LANGS: tuple[str, ...] = ("en", "de")
_MAX_LINES = 3


def language_name(code: str, lang: str) -> str:
    """Name of a language code in ``lang`` (the code itself when unknown).

    Args:
        code: Language code, e.g. ``de``.
        lang: Text language, ``en`` or ``de``.

    Returns:
        The name.
    """
    return LANGUAGES.get(code, {}).get(lang, code)


def _num(value: float, lang: str) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "de" else text


def _factor_text(f: FactorContribution, lang: str, topic_labels: Mapping[str, str]) -> str | None:
    p = f.params
    de = lang == "de"
    if f.key is Factor.TOPIC_FIT:
        if "topic" not in p:
            return None
        code = str(p["topic"])
        # "de:AI" names the topic in German; the plain code is the fallback for every language.
        topic = topic_labels.get(f"{lang}:{code}") or topic_labels.get(code, code)
        more = int(p.get("count", 1)) - 1
        if de:
            extra = f" (und {more} weitere Themen)" if more > 0 else ""
            return (
                f"Themen-Passung: {p['mentor']} bietet {topic} (Stufe {p['level']}), "
                f"das {p['mentee']} lernen möchte{extra}"
            )
        extra = f" (and {more} more topic{'s' if more > 1 else ''})" if more > 0 else ""
        return (
            f"Topic fit: {p['mentor']} offers {topic} (level {p['level']}), "
            f"which {p['mentee']} wants to learn{extra}"
        )
    if f.key is Factor.CROSS_DEPARTMENT:
        if de:
            return f"Verschiedene Abteilungen: {p['mentor']} und {p['mentee']}"
        return f"Different departments: {p['mentor']} and {p['mentee']}"
    if f.key is Factor.SENIORITY_GAP:
        gap = int(p["gap"])
        if de:
            return f"Hierarchieabstand: {gap} Stufe{'n' if gap != 1 else ''}"
        return f"Seniority gap: {gap} grade level{'s' if gap != 1 else ''}"
    if f.key is Factor.SHARED_LANGUAGE:
        names = ", ".join(language_name(c, lang) for c in str(p["languages"]).split(",") if c)
        return f"Gemeinsame Sprache: {names}" if de else f"Shared language: {names}"
    if f.key is Factor.TIMEZONE:
        hours = float(p["hours"])
        if hours == 0:
            return "Gleiche Zeitzone" if de else "Same time zone"
        if de:
            return f"Zeitzonen: {_num(hours, lang)} Std. Unterschied"
        return f"Time zones: {_num(hours, lang)} h apart"
    if f.key is Factor.PREFERENCE:
        both = p["mentee_prefers"] and p["mentor_prefers"]
        if both:
            return "Beide haben sich gegenseitig gewünscht" if de else "Both asked for each other"
        return "Wunschpartner:in angegeben" if de else "Asked for by one side"
    if f.key is Factor.PREVIOUS_PAIRING:
        if de:
            return "Abzug: waren bereits ein Tandem"
        return "Penalty: were paired before"
    return None  # pragma: no cover - every factor is handled above


def explain_factors(
    factors: Sequence[FactorContribution],
    *,
    topic_labels: Mapping[str, str] | None = None,
    limit: int = _MAX_LINES,
) -> dict[str, tuple[str, ...]]:
    """Sentences for the strongest factors of a tandem, in every language of :data:`LANGS`.

    Positive contributions come first (largest first, at most ``limit``); a penalty is
    always mentioned.

    Args:
        factors: Contributions (of one pair or of all pairs of a group).
        topic_labels: Topic code -> readable name; a key ``"<lang>:<code>"`` (e.g.
            ``"de:AI"``) names the topic in that language.
        limit: Most positive factors to mention.

    Returns:
        Language -> sentences.
    """
    labels = topic_labels or {}
    ranked = sorted(
        (f for f in factors if f.contribution > 0), key=lambda f: (-f.contribution, f.key.value)
    )
    seen: set[tuple[Factor, str]] = set()
    chosen: list[FactorContribution] = []
    for f in ranked:
        sig = (f.key, repr(sorted(f.params.items())))
        if sig not in seen and len(chosen) < limit:
            seen.add(sig)
            chosen.append(f)
    chosen += [f for f in factors if f.contribution < 0][:1]
    out: dict[str, tuple[str, ...]] = {}
    for lang in LANGS:
        lines = [_factor_text(f, lang, labels) for f in chosen]
        out[lang] = tuple(line for line in lines if line)
    return out


_RULE_PHRASES: dict[str, dict[Rule, tuple[str, str]]] = {
    # (some, all): "{n}" is the count.
    "en": {
        Rule.MANAGEMENT_CHAIN: (
            "{n} are in your management chain",
            "all {n} candidates are in your management chain",
        ),
        Rule.NO_SHARED_LANGUAGE: (
            "{n} share no language with you",
            "no candidate shares a language",
        ),
        Rule.TIMEZONE: (
            "{n} are too many time zones away",
            "all {n} candidates are too many time zones away",
        ),
        Rule.SENIORITY_BAND: (
            "{n} are outside the seniority band",
            "all {n} candidates are outside the seniority band",
        ),
        Rule.AVOID: ("{n} are on an avoid list", "all {n} candidates are on an avoid list"),
        Rule.DIFFERENT_ORG: (
            "{n} belong to another organization",
            "all {n} candidates belong to another organization",
        ),
    },
    "de": {
        Rule.MANAGEMENT_CHAIN: (
            "{n} sind in Ihrer Führungslinie",
            "alle {n} Kandidat:innen sind in Ihrer Führungslinie",
        ),
        Rule.NO_SHARED_LANGUAGE: (
            "{n} sprechen keine gemeinsame Sprache mit Ihnen",
            "niemand spricht eine gemeinsame Sprache mit Ihnen",
        ),
        Rule.TIMEZONE: (
            "{n} sind zu viele Zeitzonen entfernt",
            "alle {n} Kandidat:innen sind zu viele Zeitzonen entfernt",
        ),
        Rule.SENIORITY_BAND: (
            "{n} liegen außerhalb des Hierarchieabstands",
            "alle {n} Kandidat:innen liegen außerhalb des Hierarchieabstands",
        ),
        Rule.AVOID: (
            "{n} stehen auf einer Ausschlussliste",
            "alle {n} Kandidat:innen stehen auf einer Ausschlussliste",
        ),
        Rule.DIFFERENT_ORG: (
            "{n} gehören zu einer anderen Organisation",
            "alle {n} Kandidat:innen gehören zu einer anderen Organisation",
        ),
    },
}


def _no_candidates(counts: Mapping[str, int], lang: str) -> str:
    total = counts.get("candidates", 0)
    if total == 0:
        if lang == "de":
            return "Keine passende Person: es gibt keine Kandidat:innen der anderen Rolle."
        return "No suitable partner: there are no candidates in the other role."
    phrases = _RULE_PHRASES[lang]
    ranked = sorted((r for r in Rule if counts.get(r.value, 0) > 0), key=lambda r: -counts[r.value])
    parts: list[str] = []
    for rule in ranked[:3]:
        some, every = phrases[rule]
        n = counts[rule.value]
        parts.append((every if n == total else some).format(n=n))
        if n == total:
            break
    head = "Keine passende Person" if lang == "de" else "No suitable partner"
    return f"{head}: {', '.join(parts)}."


def explain_unmatched(
    reason: UnmatchedReason,
    counts: Mapping[str, int],
    *,
    role: str,
    group_shape: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> dict[str, str]:
    """One sentence per language saying why someone has no tandem.

    Args:
        reason: The classified reason.
        counts: See :attr:`~plugin.matching.records.UnmatchedPerson.counts`.
        role: ``mentor``, ``mentee`` or ``peer`` (who the sentence is about).
        group_shape: ((min, max) seniors, (min, max) juniors) for group runs.

    Returns:
        Language -> sentence.
    """
    n_pos = counts.get("positive", 0)
    n_feas = counts.get("feasible", 0)
    if reason is UnmatchedReason.NO_CANDIDATES:
        return {lang: _no_candidates(counts, lang) for lang in LANGS}
    if reason is UnmatchedReason.ONLY_NEGATIVE:
        return {
            "en": f"All {n_feas} remaining candidates score zero or less (e.g. paired before); "
            "the objective 'best total' never forms such pairs.",
            "de": f"Alle {n_feas} verbleibenden Kandidat:innen haben eine Bewertung von null "
            "oder weniger (z. B. schon ein Tandem gewesen); das Ziel „beste Gesamtbewertung“ "
            "bildet solche Paare nie.",
        }
    if reason is UnmatchedReason.CAPACITY:
        n = counts.get("at_capacity", n_pos)
        if role == "mentee":
            return {
                "en": f"Every suitable junior is at capacity ({n} suitable, all places went to "
                "others for a better overall result).",
                "de": f"Alle passenden Juniors sind ausgelastet ({n} passend, alle Plätze "
                "gingen für ein besseres Gesamtergebnis an andere).",
            }
        return {
            "en": f"Every suitable senior is already matched ({n} suitable).",
            "de": f"Alle passenden Seniors sind bereits zugeordnet ({n} passend).",
        }
    if reason is UnmatchedReason.PARTNERS_TAKEN:
        n = n_pos if n_pos else n_feas
        if role == "peer":
            return {
                "en": f"Every suitable peer ({n}) was paired with someone who fits them better "
                "overall.",
                "de": f"Alle {n} passenden Peers wurden anderen zugeordnet, die insgesamt "
                "besser passen.",
            }
        return {
            "en": f"Every suitable senior ({n}) was matched with someone else who fits them "
            "better overall.",
            "de": f"Alle {n} passenden Seniors wurden anderen zugeordnet, die insgesamt besser "
            "passen.",
        }
    if reason is UnmatchedReason.GROUP_NOT_FORMED:
        (s_lo, s_hi), (j_lo, j_hi) = group_shape or ((1, 2), (3, 4))
        return {
            "en": f"No complete group ({s_lo}–{s_hi} seniors with {j_lo}–{j_hi} juniors) could "
            f"include you in the best overall plan ({n_feas} suitable partners).",
            "de": f"Keine vollständige Gruppe ({s_lo}–{s_hi} Seniors mit {j_lo}–{j_hi} "
            f"Juniors) konnte Sie im besten Gesamtplan aufnehmen ({n_feas} passende "
            "Personen).",
        }
    return {
        "en": f"Suitable partners had room ({n_pos}), but the solver stopped before proving "
        "a better plan.",
        "de": f"Passende Personen hatten noch Platz ({n_pos}), aber der Solver hat vor dem "
        "Beweis eines besseren Plans angehalten.",
    }


def explain_violation(rule: Rule, mentor: str, mentee: str) -> dict[str, str]:
    """One sentence per language for a hard rule a locked tandem now breaks.

    Args:
        rule: The broken rule.
        mentor: Mentor name.
        mentee: Mentee name.

    Returns:
        Language -> sentence.
    """
    texts: dict[Rule, tuple[str, str]] = {
        Rule.MANAGEMENT_CHAIN: (
            f"{mentee} and {mentor} are now in the same management chain",
            f"{mentee} und {mentor} sind jetzt in derselben Führungslinie",
        ),
        Rule.AVOID: (
            f"{mentee} or {mentor} asked not to be paired",
            f"{mentee} oder {mentor} möchte nicht zusammen ein Tandem bilden",
        ),
        Rule.NO_SHARED_LANGUAGE: (
            f"{mentee} and {mentor} no longer share a language",
            f"{mentee} und {mentor} sprechen keine gemeinsame Sprache mehr",
        ),
        Rule.TIMEZONE: (
            f"{mentee} and {mentor} are now too many time zones apart",
            f"{mentee} und {mentor} liegen jetzt zu viele Zeitzonen auseinander",
        ),
        Rule.SENIORITY_BAND: (
            f"the grade gap between {mentee} and {mentor} is now outside the seniority band",
            f"der Hierarchieabstand zwischen {mentee} und {mentor} liegt jetzt außerhalb "
            "des erlaubten Bereichs",
        ),
        Rule.DIFFERENT_ORG: (
            f"{mentee} and {mentor} are now in different organizations",
            f"{mentee} und {mentor} gehören jetzt zu verschiedenen Organisationen",
        ),
    }
    en, de = texts[rule]
    return {"en": en[0].upper() + en[1:], "de": de[0].upper() + de[1:]}
