"""The program report on Kirkpatrick's levels (DESIGN §2, mentoring.md §4).

One report per program, for its coordinators and the organization's admins:

* **reaction** (L1) — session ratings from both sides, the juniors' psychological-safety
  pulse, and the end-of-program survey (satisfaction, relationship, continue-wish);
* **learning** (L2) — pre/post (and follow-up) self-assessment gains per skill and role;
* **behaviour** (L3) — goals met and the actions log credited to the juniors;
* **results** (L4) — junior retention against comparable non-participants from HR data;
* **process** — enrolment, matching, activation, sessions held against the target,
  cancellations by role, dissolutions, completions and open alerts.

Every number is a :class:`Figure` ``{"value", "n", "suppressed"}``: ``n`` is how many
respondents, people or tandems it is computed over, and a figure over fewer than
``min_group`` (at least :data:`MIN_GROUP`) of them is suppressed — its value is ``None``
(DESIGN §5/§6: groups under 5 are never shown). A value of ``None`` that is *not*
suppressed means there was nothing to compute (e.g. a share of zero sessions, or no HR
data). No individual answer, rating, pulse or free text ever appears in a report.

All arithmetic is exact (fractions); rates are fractions 0–1 rounded to 4 decimals, means
and hours to 2 decimals, always half away from zero. Every metric has a one-sentence
definition in English and German under ``definitions`` (key ``<level>.<metric>``, the
same key :func:`report_rows` gives each row).
"""

from __future__ import annotations

import copy
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, TypedDict

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plugin.access import Actor, require_coordinator
from plugin.db import utcnow
from plugin.errors import N_, NotFound, ValidationError
from plugin.models import (
    Action,
    Alert,
    AlertKind,
    AlertStatus,
    Assessment,
    AssessmentAnswer,
    AssessmentKind,
    Completion,
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    Feedback,
    Goal,
    GoalStatus,
    MentoringSession,
    Person,
    Program,
    SessionStatus,
    Skill,
    SurveyAnswer,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import audit

__all__ = [
    "CSV_FIELDS",
    "DEFINITIONS",
    "MIN_GROUP",
    "ROLES",
    "Figure",
    "build_report",
    "feedback_trend",
    "report_rows",
    "sessions_by_month",
]

#: The smallest group a figure may be shown for (DESIGN §5/§6).
MIN_GROUP = 5

#: Report roles: ``mentor`` = the juniors who teach, ``mentee`` = the seniors who learn.
ROLES: tuple[str, ...] = (EnrollmentRole.MENTOR.value, EnrollmentRole.MENTEE.value)

#: Columns of :func:`report_rows` (and of ``tandem report --format csv``).
CSV_FIELDS: tuple[str, ...] = ("level", "metric", "role", "skill", "value", "n", "suppressed")

_LEVELS = ("reaction", "learning", "behaviour", "results", "process")
_FIGURE_KEYS = frozenset({"value", "n", "suppressed"})
_LOW_PULSE = 2


class Figure(TypedDict):
    """One number of the report and how many respondents/people/tandems it stands on."""

    value: float | int | None
    n: int
    suppressed: bool


# --------------------------------------------------------------------------- definitions


def _d(en: str, de: str) -> dict[str, str]:
    return {"en": en, "de": de}


#: One sentence per metric (English and German), keyed ``<level>.<metric>``.
DEFINITIONS: dict[str, dict[str, str]] = {
    # general
    "general.figure": _d(
        "Every number is shown with n, the respondents, people or tandems it is computed "
        "over; when n is below the minimum group size the value is withheld (suppressed), "
        "and an empty value that is not suppressed means there was nothing to compute.",
        "Jede Zahl steht mit n, der Zahl der Antwortenden, Personen oder Tandems, auf denen "
        "sie beruht; liegt n unter der Mindestgruppengröße, wird der Wert zurückgehalten "
        "(unterdrückt), und ein leerer, nicht unterdrückter Wert bedeutet, dass es nichts "
        "zu berechnen gab.",
    ),
    "general.rounding": _d(
        "Rates are fractions from 0 to 1 rounded to 4 decimals, means, hours and days to "
        "2 decimals, computed exactly and rounded half away from zero.",
        "Quoten sind Anteile von 0 bis 1 auf 4 Nachkommastellen, Mittelwerte, Stunden und "
        "Tage auf 2 Nachkommastellen, exakt berechnet und kaufmännisch gerundet.",
    ),
    "general.roles": _d(
        "Role mentor means the juniors who teach, role mentee the seniors who learn.",
        "Die Rolle mentor bezeichnet die Nachwuchskräfte, die lehren, die Rolle mentee die "
        "Führungskräfte, die lernen.",
    ),
    # levels
    "reaction": _d(
        "Kirkpatrick level 1: how participants experienced the sessions and the program.",
        "Kirkpatrick-Stufe 1: wie die Teilnehmenden die Sitzungen und das Programm erlebt haben.",
    ),
    "learning": _d(
        "Kirkpatrick level 2: what participants learned, from their pre, post and "
        "follow-up self-assessments.",
        "Kirkpatrick-Stufe 2: was die Teilnehmenden gelernt haben, aus ihren Selbst"
        "einschätzungen vorher, nachher und zur Nachbefragung.",
    ),
    "behaviour": _d(
        "Kirkpatrick level 3: what changed in practice — goals met and actions the seniors "
        "took, credited to their juniors.",
        "Kirkpatrick-Stufe 3: was sich in der Praxis geändert hat — erreichte Ziele und "
        "Maßnahmen der Führungskräfte, den Nachwuchskräften gutgeschrieben.",
    ),
    "results": _d(
        "Kirkpatrick level 4: junior retention compared with similar employees who did not "
        "take part, from HR data.",
        "Kirkpatrick-Stufe 4: Verbleib der Nachwuchskräfte im Vergleich zu ähnlichen "
        "Beschäftigten ohne Teilnahme, aus HR-Daten.",
    ),
    "process": _d(
        "How the program ran: enrolment, matching, activation, sessions, cancellations, "
        "dissolutions, completions and open alerts.",
        "Wie das Programm lief: Anmeldung, Matching, Aktivierung, Sitzungen, Absagen, "
        "Auflösungen, Abschlüsse und offene Hinweise.",
    ),
    # reaction
    "reaction.ratings.mean": _d(
        "Mean of all session ratings (1–5) given by authors of this role on sessions of the "
        "program's tandems; n = distinct authors.",
        "Mittelwert aller Sitzungsbewertungen (1–5) von Personen dieser Rolle zu Sitzungen "
        "der Tandems des Programms; n = Zahl der verschiedenen Bewertenden.",
    ),
    "reaction.ratings.count": _d(
        "Number of session ratings given by authors of this role; n = distinct authors.",
        "Zahl der Sitzungsbewertungen von Personen dieser Rolle; n = Zahl der verschiedenen "
        "Bewertenden.",
    ),
    "reaction.safety.pulse_mean": _d(
        "Mean of the juniors' psychological-safety pulses (1–5) over all their session "
        "feedback that carries a pulse; n = distinct juniors with a pulse.",
        "Mittelwert der Puls-Werte zur psychologischen Sicherheit (1–5) aller Rückmeldungen "
        "der Nachwuchskräfte mit Puls; n = Zahl der Nachwuchskräfte mit Puls.",
    ),
    "reaction.safety.low_share": _d(
        "Share of the juniors' safety pulses that are 2 or lower; n = distinct juniors with "
        "a pulse.",
        "Anteil der Puls-Werte der Nachwuchskräfte von 2 oder weniger; n = Zahl der "
        "Nachwuchskräfte mit Puls.",
    ),
    "reaction.safety.pulses": _d(
        "Number of safety pulses given by juniors; n = distinct juniors with a pulse.",
        "Zahl der von Nachwuchskräften abgegebenen Puls-Werte; n = Zahl der Nachwuchskräfte "
        "mit Puls.",
    ),
    "reaction.survey.respondents": _d(
        "Number of enrollments of this role that answered the end-of-program survey; "
        "n = the same number.",
        "Zahl der Anmeldungen dieser Rolle, die die Abschlussbefragung beantwortet haben; "
        "n = dieselbe Zahl.",
    ),
    "reaction.survey.response_rate": _d(
        "Survey respondents among the members of this role of activated tandems, divided by "
        "those members; n = members of this role of activated tandems.",
        "Antwortende unter den Mitgliedern dieser Rolle aktivierter Tandems, geteilt durch "
        "diese Mitglieder; n = Mitglieder dieser Rolle aktivierter Tandems.",
    ),
    "reaction.survey.satisfaction_mean": _d(
        "Mean survey satisfaction (1–5) of respondents of this role; n = respondents.",
        "Mittlere Zufriedenheit (1–5) in der Abschlussbefragung für diese Rolle; n = Antwortende.",
    ),
    "reaction.survey.relationship_formed_share": _d(
        "Share of respondents of this role who say a relationship formed; n = respondents.",
        "Anteil der Antwortenden dieser Rolle, die angeben, dass eine Beziehung entstanden "
        "ist; n = Antwortende.",
    ),
    "reaction.survey.would_continue_share": _d(
        "Share of respondents of this role who would continue the tandem (continue-wish); "
        "n = respondents.",
        "Anteil der Antwortenden dieser Rolle, die das Tandem fortsetzen möchten; n = Antwortende.",
    ),
    "reaction.survey.would_do_again_share": _d(
        "Share of respondents of this role who would take part again; n = respondents.",
        "Anteil der Antwortenden dieser Rolle, die wieder teilnehmen würden; n = Antwortende.",
    ),
    # learning
    "learning.skill.pre_mean": _d(
        "Mean pre-assessment level (1–5) for this skill over the enrollments of this role "
        "that rated it both before and after; n = those enrollments.",
        "Mittlere Selbsteinschätzung vorher (1–5) für diese Kompetenz über die Anmeldungen "
        "dieser Rolle mit Einschätzung vorher und nachher; n = diese Anmeldungen.",
    ),
    "learning.skill.post_mean": _d(
        "Mean post-assessment level (1–5) for this skill over the same enrollments; "
        "n = those enrollments.",
        "Mittlere Selbsteinschätzung nachher (1–5) für diese Kompetenz über dieselben "
        "Anmeldungen; n = diese Anmeldungen.",
    ),
    "learning.skill.gain_mean": _d(
        "Mean skill gain, post level minus pre level, over the enrollments of this role "
        "that rated the skill both before and after; n = those enrollments.",
        "Mittlerer Kompetenzzuwachs, Stufe nachher minus Stufe vorher, über die Anmeldungen "
        "dieser Rolle mit Einschätzung vorher und nachher; n = diese Anmeldungen.",
    ),
    "learning.skill.improved_share": _d(
        "Share of those enrollments whose post level is higher than their pre level; "
        "n = those enrollments.",
        "Anteil dieser Anmeldungen, deren Stufe nachher höher ist als vorher; "
        "n = diese Anmeldungen.",
    ),
    "learning.skill.follow_up_gain_mean": _d(
        "Mean follow-up level minus pre level over the enrollments of this role that rated "
        "the skill before and at follow-up; n = those enrollments.",
        "Mittlere Stufe zur Nachbefragung minus Stufe vorher über die Anmeldungen dieser "
        "Rolle mit Einschätzung vorher und zur Nachbefragung; n = diese Anmeldungen.",
    ),
    "learning.overall.gain_mean": _d(
        "Mean over enrollments of this role of each one's mean gain (post minus pre) over "
        "the report's skills they rated before and after; n = enrollments with at least "
        "one such skill.",
        "Mittelwert über die Anmeldungen dieser Rolle ihres jeweiligen mittleren Zuwachses "
        "(nachher minus vorher) über die vorher und nachher eingeschätzten Kompetenzen; "
        "n = Anmeldungen mit mindestens einer solchen Kompetenz.",
    ),
    "learning.overall.follow_up_gain_mean": _d(
        "Mean over enrollments of this role of each one's mean follow-up minus pre gain; "
        "n = enrollments with at least one skill rated before and at follow-up.",
        "Mittelwert über die Anmeldungen dieser Rolle ihres jeweiligen mittleren Zuwachses "
        "zur Nachbefragung; n = Anmeldungen mit mindestens einer solchen Kompetenz.",
    ),
    "learning.assessments.pre": _d(
        "Number of pre-assessments submitted by enrollments of this role; n = all "
        "enrollments of this role.",
        "Zahl der abgegebenen Einschätzungen vorher von Anmeldungen dieser Rolle; n = alle "
        "Anmeldungen dieser Rolle.",
    ),
    "learning.assessments.post": _d(
        "Number of post-assessments submitted by enrollments of this role; n = all "
        "enrollments of this role.",
        "Zahl der abgegebenen Einschätzungen nachher von Anmeldungen dieser Rolle; n = alle "
        "Anmeldungen dieser Rolle.",
    ),
    "learning.assessments.follow_up": _d(
        "Number of follow-up assessments submitted by enrollments of this role; n = all "
        "enrollments of this role.",
        "Zahl der abgegebenen Nachbefragungen von Anmeldungen dieser Rolle; n = alle "
        "Anmeldungen dieser Rolle.",
    ),
    # behaviour
    "behaviour.goals.set": _d(
        "Number of goals the program's tandems set; n = tandems with at least one goal.",
        "Zahl der Ziele, die sich die Tandems des Programms gesetzt haben; n = Tandems mit "
        "mindestens einem Ziel.",
    ),
    "behaviour.goals.met": _d(
        "Number of those goals with status met; n = tandems with at least one goal.",
        "Zahl dieser Ziele mit Status erreicht; n = Tandems mit mindestens einem Ziel.",
    ),
    "behaviour.goals.dropped": _d(
        "Number of those goals with status dropped; n = tandems with at least one goal.",
        "Zahl dieser Ziele mit Status verworfen; n = Tandems mit mindestens einem Ziel.",
    ),
    "behaviour.goals.open": _d(
        "Number of those goals still open or in progress; n = tandems with at least one goal.",
        "Zahl dieser Ziele, die noch offen oder in Arbeit sind; n = Tandems mit mindestens "
        "einem Ziel.",
    ),
    "behaviour.goals.met_share": _d(
        "Goals met divided by goals set; n = tandems with at least one goal.",
        "Erreichte Ziele geteilt durch gesetzte Ziele; n = Tandems mit mindestens einem Ziel.",
    ),
    "behaviour.goals.tandems_with_goals": _d(
        "Number of the program's tandems with at least one goal; n = the same number.",
        "Zahl der Tandems des Programms mit mindestens einem Ziel; n = dieselbe Zahl.",
    ),
    "behaviour.goals.tandems_with_met_goal": _d(
        "Number of tandems with at least one met goal; n = tandems with at least one goal.",
        "Zahl der Tandems mit mindestens einem erreichten Ziel; n = Tandems mit mindestens "
        "einem Ziel.",
    ),
    "behaviour.goals.tandems_with_met_goal_share": _d(
        "Tandems with at least one met goal divided by tandems with at least one goal; "
        "n = tandems with at least one goal.",
        "Tandems mit mindestens einem erreichten Ziel geteilt durch Tandems mit mindestens "
        "einem Ziel; n = Tandems mit mindestens einem Ziel.",
    ),
    "behaviour.actions.logged": _d(
        "Number of actions logged on activated tandems (what a senior changed, credited to "
        "a junior); n = activated tandems.",
        "Zahl der in aktivierten Tandems erfassten Maßnahmen (was eine Führungskraft "
        "geändert hat, einer Nachwuchskraft gutgeschrieben); n = aktivierte Tandems.",
    ),
    "behaviour.actions.tandems_with_action": _d(
        "Number of activated tandems with at least one action; n = activated tandems.",
        "Zahl der aktivierten Tandems mit mindestens einer Maßnahme; n = aktivierte Tandems.",
    ),
    "behaviour.actions.tandems_with_action_share": _d(
        "Activated tandems with at least one action divided by activated tandems; "
        "n = activated tandems.",
        "Aktivierte Tandems mit mindestens einer Maßnahme geteilt durch aktivierte Tandems; "
        "n = aktivierte Tandems.",
    ),
    "behaviour.actions.juniors_credited": _d(
        "Number of juniors of activated tandems credited with at least one action; "
        "n = juniors of activated tandems.",
        "Zahl der Nachwuchskräfte aktivierter Tandems, denen mindestens eine Maßnahme "
        "gutgeschrieben wurde; n = Nachwuchskräfte aktivierter Tandems.",
    ),
    "behaviour.actions.per_activated_tandem": _d(
        "Actions logged on activated tandems divided by activated tandems; n = activated tandems.",
        "Erfasste Maßnahmen in aktivierten Tandems geteilt durch aktivierte Tandems; "
        "n = aktivierte Tandems.",
    ),
    # results
    "results.participants": _d(
        "Number of people enrolled as mentor who were members of an activated tandem; "
        "n = the same number.",
        "Zahl der als Mentor angemeldeten Personen, die Mitglied eines aktivierten Tandems "
        "waren; n = dieselbe Zahl.",
    ),
    "results.comparison": _d(
        "Number of people of the organization not enrolled in the program, not erased, "
        "employed at program start (hired on or before it or hire date unknown, and no "
        "leaving date before it) and with a job level within the participants' lowest to "
        "highest job level; n = the same number.",
        "Zahl der Personen der Organisation, die nicht im Programm angemeldet und nicht "
        "gelöscht sind, zum Programmstart beschäftigt waren (Eintritt spätestens dann oder "
        "unbekannt, kein Austritt davor) und deren Stufe zwischen der niedrigsten und "
        "höchsten Stufe der Teilnehmenden liegt; n = dieselbe Zahl.",
    ),
    "results.participant_retention": _d(
        "Share of participants still employed on the as-of date: leaving date after it, "
        "or no leaving date and still active; n = participants.",
        "Anteil der Teilnehmenden, die am Stichtag noch beschäftigt sind: Austritt danach, "
        "oder kein Austrittsdatum und weiterhin aktiv; n = Teilnehmende.",
    ),
    "results.comparison_retention": _d(
        "Share of the comparison group still employed on the as-of date, by the same rule; "
        "n = the comparison group.",
        "Anteil der Vergleichsgruppe, der am Stichtag nach derselben Regel noch beschäftigt "
        "ist; n = Vergleichsgruppe.",
    ),
    "results.difference_pp": _d(
        "Participant retention minus comparison retention in percentage points, from the "
        "unrounded rates, withheld when either rate is; n = the smaller of the two groups.",
        "Verbleibsquote der Teilnehmenden minus der Vergleichsgruppe in Prozentpunkten, aus "
        "den ungerundeten Quoten, zurückgehalten, wenn eine der Quoten es ist; n = die "
        "kleinere der beiden Gruppen.",
    ),
    # process
    "process.enrolled.active": _d(
        "Number of enrollments of this role that are active; n = all enrollments of this role.",
        "Zahl der aktiven Anmeldungen dieser Rolle; n = alle Anmeldungen dieser Rolle.",
    ),
    "process.enrolled.withdrawn": _d(
        "Number of enrollments of this role that were withdrawn; n = all enrollments of this role.",
        "Zahl der zurückgezogenen Anmeldungen dieser Rolle; n = alle Anmeldungen dieser Rolle.",
    ),
    "process.matched.count": _d(
        "Number of active enrollments of this role that are members of a matched tandem "
        "(approved and not rejected); n = active enrollments of this role.",
        "Zahl der aktiven Anmeldungen dieser Rolle, die Mitglied eines vermittelten Tandems "
        "sind (freigegeben und nicht abgelehnt); n = aktive Anmeldungen dieser Rolle.",
    ),
    "process.matched.share": _d(
        "Matched active enrollments of this role divided by active enrollments of this "
        "role; n = active enrollments of this role.",
        "Vermittelte aktive Anmeldungen dieser Rolle geteilt durch aktive Anmeldungen "
        "dieser Rolle; n = aktive Anmeldungen dieser Rolle.",
    ),
    "process.tandems.total": _d(
        "Number of the program's tandems in any status; n = the same number.",
        "Zahl der Tandems des Programms in jedem Status; n = dieselbe Zahl.",
    ),
    "process.tandems.proposed": _d(
        "Number of tandems in status proposed; n = all tandems of the program.",
        "Zahl der Tandems im Status vorgeschlagen; n = alle Tandems des Programms.",
    ),
    "process.tandems.accepted": _d(
        "Number of tandems in status accepted; n = all tandems of the program.",
        "Zahl der Tandems im Status angenommen; n = alle Tandems des Programms.",
    ),
    "process.tandems.active": _d(
        "Number of tandems in status active; n = all tandems of the program.",
        "Zahl der Tandems im Status aktiv; n = alle Tandems des Programms.",
    ),
    "process.tandems.completed": _d(
        "Number of tandems in status completed; n = all tandems of the program.",
        "Zahl der Tandems im Status abgeschlossen; n = alle Tandems des Programms.",
    ),
    "process.tandems.dissolved": _d(
        "Number of tandems in status dissolved; n = all tandems of the program.",
        "Zahl der Tandems im Status aufgelöst; n = alle Tandems des Programms.",
    ),
    "process.tandems.rejected": _d(
        "Number of tandems in status rejected; n = all tandems of the program.",
        "Zahl der Tandems im Status abgelehnt; n = alle Tandems des Programms.",
    ),
    "process.activation.approved": _d(
        "Number of tandems that were approved: approved by a coordinator, or accepted, "
        "active, completed, dissolved or activated; n = all tandems of the program.",
        "Zahl der freigegebenen Tandems: von einer Koordination freigegeben oder "
        "angenommen, aktiv, abgeschlossen, aufgelöst oder aktiviert; n = alle Tandems des "
        "Programms.",
    ),
    "process.activation.activated": _d(
        "Number of tandems that were activated (have an activation time); n = approved tandems.",
        "Zahl der aktivierten Tandems (mit Aktivierungszeitpunkt); n = freigegebene Tandems.",
    ),
    "process.activation.rate": _d(
        "Activated tandems divided by approved tandems; n = approved tandems.",
        "Aktivierte Tandems geteilt durch freigegebene Tandems; n = freigegebene Tandems.",
    ),
    "process.activation.median_days_to_first_session": _d(
        "Median over activated tandems with a held session of the days from activation to "
        "the first held session (held time, else scheduled time); n = those tandems.",
        "Median der Tage von der Aktivierung bis zur ersten gehaltenen Sitzung "
        "(Durchführungszeit, sonst geplante Zeit) über aktivierte Tandems mit gehaltener "
        "Sitzung; n = diese Tandems.",
    ),
    "process.sessions.scheduled": _d(
        "Number of sessions of activated tandems in any status (planned, held, cancelled); "
        "n = activated tandems.",
        "Zahl der Sitzungen aktivierter Tandems in jedem Status (geplant, gehalten, "
        "abgesagt); n = aktivierte Tandems.",
    ),
    "process.sessions.held": _d(
        "Number of held sessions of activated tandems; n = activated tandems.",
        "Zahl der gehaltenen Sitzungen aktivierter Tandems; n = aktivierte Tandems.",
    ),
    "process.sessions.held_qualifying": _d(
        "Number of held sessions of at least the program's minimum session length; "
        "n = activated tandems.",
        "Zahl der gehaltenen Sitzungen mit mindestens der Mindestdauer des Programms; "
        "n = aktivierte Tandems.",
    ),
    "process.sessions.held_per_activated_tandem": _d(
        "Held sessions divided by activated tandems, to compare with the program's target "
        "number of sessions; n = activated tandems.",
        "Gehaltene Sitzungen geteilt durch aktivierte Tandems, zum Vergleich mit der "
        "Zielzahl an Sitzungen; n = aktivierte Tandems.",
    ),
    "process.sessions.target_reached_share": _d(
        "Share of activated tandems with at least the program's target number of held "
        "sessions; n = activated tandems.",
        "Anteil der aktivierten Tandems mit mindestens der Zielzahl gehaltener Sitzungen; "
        "n = aktivierte Tandems.",
    ),
    "process.sessions.held_minutes": _d(
        "Sum of the minutes of held sessions of activated tandems; n = activated tandems.",
        "Summe der Minuten gehaltener Sitzungen aktivierter Tandems; n = aktivierte Tandems.",
    ),
    "process.sessions.held_hours": _d(
        "Held minutes divided by 60; n = activated tandems.",
        "Gehaltene Minuten geteilt durch 60; n = aktivierte Tandems.",
    ),
    "process.sessions.planned_not_held": _d(
        "Number of sessions still planned although scheduled before the as-of date; "
        "n = activated tandems.",
        "Zahl der Sitzungen, die noch geplant sind, obwohl sie vor dem Stichtag angesetzt "
        "waren; n = aktivierte Tandems.",
    ),
    "process.sessions.planned_upcoming": _d(
        "Number of planned sessions scheduled on or after the as-of date; n = activated tandems.",
        "Zahl der geplanten Sitzungen ab dem Stichtag; n = aktivierte Tandems.",
    ),
    "process.sessions.closed_unheld": _d(
        "Number of sessions still planned when their tandem ended, closed without being "
        "held (not counted as cancellations); n = activated tandems.",
        "Zahl der Sitzungen, die beim Ende ihres Tandems noch geplant waren und ungehalten "
        "geschlossen wurden (keine Absagen); n = aktivierte Tandems.",
    ),
    "process.cancellations.count": _d(
        "Number of sessions of activated tandems cancelled by a member (by this role, when a "
        "role is given); n = activated tandems.",
        "Zahl der von einem Mitglied abgesagten Sitzungen aktivierter Tandems (durch diese "
        "Rolle, wenn eine Rolle angegeben ist); n = aktivierte Tandems.",
    ),
    "process.cancellations.share": _d(
        "Those cancellations divided by all scheduled sessions of activated tandems; "
        "n = activated tandems.",
        "Diese Absagen geteilt durch alle Sitzungen aktivierter Tandems; n = aktivierte Tandems.",
    ),
    "process.dissolved.no_fault": _d(
        "Number of dissolved tandems closed as no-fault; n = all tandems of the program.",
        "Zahl der ohne Verschulden aufgelösten Tandems; n = alle Tandems des Programms.",
    ),
    "process.dissolved.other": _d(
        "Number of dissolved tandems not closed as no-fault; n = all tandems of the program.",
        "Zahl der aufgelösten Tandems, die nicht ohne Verschulden geschlossen wurden; "
        "n = alle Tandems des Programms.",
    ),
    "process.completions.count": _d(
        "Number of recorded completions (of enrollments of this role, when a role is "
        "given); n = active enrollments (of this role).",
        "Zahl der erfassten Abschlüsse (von Anmeldungen dieser Rolle, wenn eine Rolle "
        "angegeben ist); n = aktive Anmeldungen (dieser Rolle).",
    ),
    "process.completions.share": _d(
        "Active enrollments (of this role) with a completion divided by active enrollments "
        "(of this role); n = active enrollments (of this role).",
        "Aktive Anmeldungen (dieser Rolle) mit Abschluss geteilt durch aktive Anmeldungen "
        "(dieser Rolle); n = aktive Anmeldungen (dieser Rolle).",
    ),
    "process.open_alerts.stalled": _d(
        "Number of open alerts for tandems without a held session for more than 1.5 times "
        "the cadence; n = activated tandems.",
        "Zahl der offenen Hinweise auf Tandems ohne gehaltene Sitzung seit mehr als dem "
        "1,5-fachen Rhythmus; n = aktivierte Tandems.",
    ),
    "process.open_alerts.senior_cancellations": _d(
        "Number of open alerts for seniors who cancelled two sessions in a row; "
        "n = activated tandems.",
        "Zahl der offenen Hinweise auf Führungskräfte, die zwei Sitzungen in Folge "
        "abgesagt haben; n = aktivierte Tandems.",
    ),
    "process.open_alerts.low_safety": _d(
        "Number of open alerts for a low junior safety pulse; n = activated tandems.",
        "Zahl der offenen Hinweise auf einen niedrigen Sicherheits-Puls einer "
        "Nachwuchskraft; n = aktivierte Tandems.",
    ),
}


# --------------------------------------------------------------------------- figures


def _round(q: Fraction, places: int) -> float:
    """Round exactly, half away from zero."""
    scale = 10**places
    scaled = q * scale
    k = math.floor(abs(scaled) + Fraction(1, 2))
    return float(Fraction(k if scaled >= 0 else -k, scale))


@dataclass(frozen=True, slots=True)
class _Figures:
    """Builds figures with one minimum group size."""

    min_group: int

    def _make(self, value: float | int | None, n: int) -> Figure:
        if n < self.min_group:
            return {"value": None, "n": n, "suppressed": True}
        return {"value": value, "n": n, "suppressed": False}

    def count(self, value: int, n: int) -> Figure:
        return self._make(value, n)

    def rate(self, num: int, den: int, n: int) -> Figure:
        return self._make(_round(Fraction(num, den), 4) if den else None, n)

    def mean(self, values: Sequence[int | Fraction], n: int) -> Figure:
        if not values:
            return self._make(None, n)
        return self._make(_round(Fraction(sum(values, Fraction(0)), len(values)), 2), n)

    def number(self, value: Fraction | None, n: int, places: int = 2) -> Figure:
        return self._make(None if value is None else _round(value, places), n)

    def missing(self, n: int) -> Figure:
        return self._make(None, n)


def _median(values: Sequence[Fraction]) -> Fraction | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


# --------------------------------------------------------------------------- loading


@dataclass
class _Data:
    """The rows of one program the report is computed from."""

    program: Program
    as_of: date
    tandems: list[Any] = field(default_factory=list)
    members: list[Any] = field(default_factory=list)
    enrollments: list[Any] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)
    feedback: list[Any] = field(default_factory=list)
    goals: list[Any] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    assessments: list[Any] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    surveys: list[Any] = field(default_factory=list)
    completions: list[int] = field(default_factory=list)
    alerts: Counter[str] = field(default_factory=Counter)

    # derived
    role_of: dict[int, str] = field(default_factory=dict)
    activated: set[int] = field(default_factory=set)
    approved: set[int] = field(default_factory=set)

    def enrollments_of(self, role: str, *, active_only: bool = False) -> set[int]:
        return {
            e.id
            for e in self.enrollments
            if e.role.value == role and (not active_only or e.status is EnrollmentStatus.ACTIVE)
        }

    def activated_members(self, role: str) -> list[Any]:
        return [m for m in self.members if m.tandem_id in self.activated and m.role.value == role]


def _load(session: Session, program: Program, as_of: date) -> _Data:
    org_id, pid = program.org_id, program.id
    data = _Data(program=program, as_of=as_of)
    in_program = (Tandem.org_id == org_id, Tandem.program_id == pid)
    data.tandems = list(
        session.execute(
            select(
                Tandem.id,
                Tandem.status,
                Tandem.approved_at,
                Tandem.activated_at,
                Tandem.no_fault,
            ).where(*in_program)
        )
    )
    data.members = list(
        session.execute(
            select(
                TandemMember.tandem_id,
                TandemMember.enrollment_id,
                TandemMember.person_id,
                TandemMember.role,
            )
            .join(Tandem, Tandem.id == TandemMember.tandem_id)
            .where(*in_program)
        )
    )
    data.enrollments = list(
        session.execute(
            select(Enrollment.id, Enrollment.person_id, Enrollment.role, Enrollment.status).where(
                Enrollment.org_id == org_id, Enrollment.program_id == pid
            )
        )
    )
    data.sessions = list(
        session.execute(
            select(
                MentoringSession.tandem_id,
                MentoringSession.status,
                MentoringSession.scheduled_at,
                MentoringSession.held_at,
                MentoringSession.minutes,
                MentoringSession.cancelled_by_role,
            )
            .join(Tandem, Tandem.id == MentoringSession.tandem_id)
            .where(*in_program)
        )
    )
    data.feedback = list(
        session.execute(
            select(Feedback.author_id, Feedback.role, Feedback.rating, Feedback.safety_pulse)
            .join(MentoringSession, MentoringSession.id == Feedback.session_id)
            .join(Tandem, Tandem.id == MentoringSession.tandem_id)
            .where(*in_program)
        )
    )
    data.goals = list(
        session.execute(
            select(Goal.tandem_id, Goal.status)
            .join(Tandem, Tandem.id == Goal.tandem_id)
            .where(*in_program)
        )
    )
    data.actions = list(
        session.execute(
            select(Action.tandem_id, Action.credited_mentor_id)
            .join(Tandem, Tandem.id == Action.tandem_id)
            .where(*in_program)
        )
    )
    in_assessments = (Assessment.org_id == org_id, Assessment.program_id == pid)
    data.assessments = list(
        session.execute(select(Assessment.enrollment_id, Assessment.kind).where(*in_assessments))
    )
    data.answers = list(
        session.execute(
            select(
                Assessment.enrollment_id,
                Assessment.kind,
                AssessmentAnswer.skill_id,
                AssessmentAnswer.level,
            )
            .join(Assessment, Assessment.id == AssessmentAnswer.assessment_id)
            .where(*in_assessments)
        )
    )
    data.surveys = list(
        session.execute(
            select(
                SurveyAnswer.enrollment_id,
                SurveyAnswer.satisfaction,
                SurveyAnswer.relationship_formed,
                SurveyAnswer.would_continue,
                SurveyAnswer.would_do_again,
            ).where(SurveyAnswer.org_id == org_id, SurveyAnswer.program_id == pid)
        )
    )
    data.completions = list(
        session.scalars(
            select(Completion.enrollment_id).where(
                Completion.org_id == org_id, Completion.program_id == pid
            )
        )
    )
    data.alerts = Counter(
        kind.value
        for kind in session.scalars(
            select(Alert.kind).where(
                Alert.org_id == org_id,
                Alert.program_id == pid,
                Alert.status == AlertStatus.OPEN,
            )
        )
    )
    data.role_of = {e.id: e.role.value for e in data.enrollments}
    data.activated = {t.id for t in data.tandems if t.activated_at is not None}
    data.approved = {
        t.id
        for t in data.tandems
        if t.approved_at is not None
        or t.activated_at is not None
        or t.status
        in (
            TandemStatus.ACCEPTED,
            TandemStatus.ACTIVE,
            TandemStatus.COMPLETED,
            TandemStatus.DISSOLVED,
        )
    }
    return data


# --------------------------------------------------------------------------- levels


def _reaction(d: _Data, fig: _Figures) -> dict[str, Any]:
    ratings: dict[str, Any] = {}
    for role in ROLES:
        rows = [f for f in d.feedback if f.role.value == role]
        n = len({f.author_id for f in rows if f.author_id is not None})
        ratings[role] = {
            "mean": fig.mean([f.rating for f in rows], n),
            "count": fig.count(len(rows), n),
        }
    pulses = [
        f
        for f in d.feedback
        if f.role.value == EnrollmentRole.MENTOR.value and f.safety_pulse is not None
    ]
    n_pulse = len({f.author_id for f in pulses if f.author_id is not None})
    safety = {
        "pulse_mean": fig.mean([f.safety_pulse for f in pulses], n_pulse),
        "low_share": fig.rate(
            sum(1 for f in pulses if f.safety_pulse <= _LOW_PULSE), len(pulses), n_pulse
        ),
        "pulses": fig.count(len(pulses), n_pulse),
    }
    survey: dict[str, Any] = {}
    for role in ROLES:
        answers = [s for s in d.surveys if d.role_of.get(s.enrollment_id) == role]
        n = len(answers)
        members = {m.enrollment_id for m in d.activated_members(role)}
        answered = {s.enrollment_id for s in answers} & members
        survey[role] = {
            "respondents": fig.count(n, n),
            "response_rate": fig.rate(len(answered), len(members), len(members)),
            "satisfaction_mean": fig.mean([s.satisfaction for s in answers], n),
            "relationship_formed_share": fig.rate(
                sum(1 for s in answers if s.relationship_formed), n, n
            ),
            "would_continue_share": fig.rate(sum(1 for s in answers if s.would_continue), n, n),
            "would_do_again_share": fig.rate(sum(1 for s in answers if s.would_do_again), n, n),
        }
    return {"ratings": ratings, "safety": safety, "survey": survey}


def _report_skills(session: Session, d: _Data) -> list[tuple[int | None, dict[str, Any]]]:
    """The skills the report covers, with their id (``None`` for an unknown code)."""
    org_id = d.program.org_id
    codes = list(d.program.assessment_skills or [])
    if codes:
        rows = session.scalars(select(Skill).where(Skill.org_id == org_id, Skill.code.in_(codes)))
        by_code = {s.code: s for s in rows}
        out: list[tuple[int | None, dict[str, Any]]] = []
        for code in dict.fromkeys(codes):
            skill = by_code.get(code)
            out.append((None if skill is None else skill.id, _skill_info(skill, code)))
        return out
    ids = {a.skill_id for a in d.answers}
    if not ids:
        return []
    skills = session.scalars(
        select(Skill).where(Skill.org_id == org_id, Skill.id.in_(ids)).order_by(Skill.code)
    )
    return [(s.id, _skill_info(s, s.code)) for s in skills]


def _skill_info(skill: Skill | None, code: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": code if skill is None else skill.name,
        "name_de": None if skill is None else skill.name_de,
        "category": None if skill is None else skill.category.value,
    }


def _pairs(
    levels: dict[tuple[int, str, int], int], enrollments: Iterable[int], skill_id: int, later: str
) -> list[tuple[int, int, int]]:
    """(enrollment, pre, later) for enrollments with both levels for the skill."""
    out = []
    for e in sorted(enrollments):
        pre = levels.get((e, AssessmentKind.PRE.value, skill_id))
        post = levels.get((e, later, skill_id))
        if pre is not None and post is not None:
            out.append((e, pre, post))
    return out


def _learning(session: Session, d: _Data, fig: _Figures) -> dict[str, Any]:
    levels = {
        (a.enrollment_id, a.kind.value, a.skill_id): a.level
        for a in d.answers
        if a.enrollment_id in d.role_of
    }
    skills = _report_skills(session, d)
    post, follow = AssessmentKind.POST.value, AssessmentKind.FOLLOW_UP.value
    items: list[dict[str, Any]] = []
    gains: dict[str, dict[str, defaultdict[int, list[int]]]] = {
        role: {post: defaultdict(list), follow: defaultdict(list)} for role in ROLES
    }
    for skill_id, info in skills:
        by_role: dict[str, Any] = {}
        for role in ROLES:
            enrolled = d.enrollments_of(role)
            paired = [] if skill_id is None else _pairs(levels, enrolled, skill_id, post)
            followed = [] if skill_id is None else _pairs(levels, enrolled, skill_id, follow)
            for e, pre, later in paired:
                gains[role][post][e].append(later - pre)
            for e, pre, later in followed:
                gains[role][follow][e].append(later - pre)
            n = len(paired)
            by_role[role] = {
                "pre_mean": fig.mean([p[1] for p in paired], n),
                "post_mean": fig.mean([p[2] for p in paired], n),
                "gain_mean": fig.mean([p[2] - p[1] for p in paired], n),
                "improved_share": fig.rate(sum(1 for p in paired if p[2] > p[1]), n, n),
                "follow_up_gain_mean": fig.mean([p[2] - p[1] for p in followed], len(followed)),
            }
        items.append({**info, "by_role": by_role})
    overall: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    for role in ROLES:
        per_post = [Fraction(sum(g), len(g)) for g in gains[role][post].values()]
        per_follow = [Fraction(sum(g), len(g)) for g in gains[role][follow].values()]
        overall[role] = {
            "gain_mean": fig.mean(per_post, len(per_post)),
            "follow_up_gain_mean": fig.mean(per_follow, len(per_follow)),
        }
        enrolled = d.enrollments_of(role)
        kinds = Counter(a.kind.value for a in d.assessments if a.enrollment_id in enrolled)
        counts[role] = {
            kind.value: fig.count(kinds[kind.value], len(enrolled)) for kind in AssessmentKind
        }
    return {"skills": items, "overall": overall, "assessments": counts}


def _behaviour(d: _Data, fig: _Figures) -> dict[str, Any]:
    with_goals = {g.tandem_id for g in d.goals}
    n_goals = len(with_goals)
    met = [g for g in d.goals if g.status is GoalStatus.MET]
    with_met = {g.tandem_id for g in met}
    goals = {
        "set": fig.count(len(d.goals), n_goals),
        "met": fig.count(len(met), n_goals),
        "dropped": fig.count(sum(1 for g in d.goals if g.status is GoalStatus.DROPPED), n_goals),
        "open": fig.count(
            sum(1 for g in d.goals if g.status in (GoalStatus.OPEN, GoalStatus.IN_PROGRESS)),
            n_goals,
        ),
        "met_share": fig.rate(len(met), len(d.goals), n_goals),
        "tandems_with_goals": fig.count(n_goals, n_goals),
        "tandems_with_met_goal": fig.count(len(with_met), n_goals),
        "tandems_with_met_goal_share": fig.rate(len(with_met), n_goals, n_goals),
    }
    n_act = len(d.activated)
    logged = [a for a in d.actions if a.tandem_id in d.activated]
    with_action = {a.tandem_id for a in logged}
    juniors = {m.person_id for m in d.activated_members(EnrollmentRole.MENTOR.value)}
    credited = {a.credited_mentor_id for a in logged} & juniors
    actions = {
        "logged": fig.count(len(logged), n_act),
        "tandems_with_action": fig.count(len(with_action), n_act),
        "tandems_with_action_share": fig.rate(len(with_action), n_act, n_act),
        "juniors_credited": fig.count(len(credited), len(juniors)),
        "per_activated_tandem": fig.number(Fraction(len(logged), n_act) if n_act else None, n_act),
    }
    return {"goals": goals, "actions": actions}


def _employed_on(person: Any, day: date) -> bool:
    """Still employed on ``day``: a leaving date after it, or none and still active."""
    if person.left_on is not None:
        return bool(person.left_on > day)
    return bool(person.active)


def _results(session: Session, d: _Data, fig: _Figures) -> dict[str, Any]:
    program, org_id = d.program, d.program.org_id
    participant_ids = {m.person_id for m in d.activated_members(EnrollmentRole.MENTOR.value)}
    cols = (
        Person.id,
        Person.job_level,
        Person.hire_date,
        Person.left_on,
        Person.active,
        Person.erased_at,
    )
    participants = (
        list(session.execute(select(*cols).where(Person.id.in_(participant_ids))))
        if participant_ids
        else []
    )
    levels = [p.job_level for p in participants if p.job_level is not None]
    band = {"min": min(levels), "max": max(levels)} if levels else None
    enrolled = select(Enrollment.person_id).where(Enrollment.program_id == program.id)
    comparison: list[Any] = []
    if band is not None:
        comparison = list(
            session.execute(
                select(*cols).where(
                    Person.org_id == org_id,
                    Person.erased_at.is_(None),
                    Person.id.not_in(enrolled),
                    or_(Person.hire_date.is_(None), Person.hire_date <= program.starts_on),
                    or_(Person.left_on.is_(None), Person.left_on >= program.starts_on),
                    Person.job_level.between(band["min"], band["max"]),
                )
            )
        )
    has_hr = (
        session.scalar(
            select(Person.id)
            .where(
                Person.org_id == org_id,
                or_(Person.hire_date.is_not(None), Person.left_on.is_not(None)),
            )
            .limit(1)
        )
        is not None
    )
    reason: str | None = None
    if not has_hr:
        reason = (
            "no HR data: no person in the organization has a hire date and nobody has a "
            "leaving date, so retention cannot be measured"
        )
    elif d.as_of < program.starts_on:
        reason = f"the program starts on {program.starts_on.isoformat()}, after the as-of date"
    n_p, n_c = len(participants), len(comparison)
    out: dict[str, Any] = {
        "available": reason is None,
        "reason": reason,
        "as_of": d.as_of.isoformat(),
        "starts_on": program.starts_on.isoformat(),
        "job_level_band": band,
        "participants": fig.count(n_p, n_p),
        "comparison": fig.count(n_c, n_c),
    }
    if reason is not None:
        out["participant_retention"] = fig.missing(n_p)
        out["comparison_retention"] = fig.missing(n_c)
        out["difference_pp"] = fig.missing(min(n_p, n_c))
        return out
    kept_p = sum(1 for p in participants if _employed_on(p, d.as_of))
    kept_c = sum(1 for p in comparison if _employed_on(p, d.as_of))
    out["participant_retention"] = fig.rate(kept_p, n_p, n_p)
    out["comparison_retention"] = fig.rate(kept_c, n_c, n_c)
    diff = None
    if n_p and n_c:
        diff = (Fraction(kept_p, n_p) - Fraction(kept_c, n_c)) * 100
    out["difference_pp"] = fig.number(diff, min(n_p, n_c))
    return out


def _process(d: _Data, fig: _Figures) -> dict[str, Any]:
    program = d.program
    enrolled: dict[str, Any] = {}
    matched: dict[str, Any] = {}
    matched_tandems = {
        t.id for t in d.tandems if t.id in d.approved and t.status is not TandemStatus.REJECTED
    }
    matched_enrollments = {m.enrollment_id for m in d.members if m.tandem_id in matched_tandems}
    for role in ROLES:
        everyone = d.enrollments_of(role)
        active = d.enrollments_of(role, active_only=True)
        enrolled[role] = {
            "active": fig.count(len(active), len(everyone)),
            "withdrawn": fig.count(len(everyone) - len(active), len(everyone)),
        }
        hit = len(active & matched_enrollments)
        matched[role] = {
            "count": fig.count(hit, len(active)),
            "share": fig.rate(hit, len(active), len(active)),
        }

    total = len(d.tandems)
    by_status = Counter(t.status.value for t in d.tandems)
    tandems: dict[str, Figure] = {"total": fig.count(total, total)}
    for status in TandemStatus:
        tandems[status.value] = fig.count(by_status[status.value], total)

    n_act = len(d.activated)
    sessions = [s for s in d.sessions if s.tandem_id in d.activated]
    held = [s for s in sessions if s.status is SessionStatus.HELD]
    activated_at = {t.id: t.activated_at for t in d.tandems if t.id in d.activated}
    first: dict[int, datetime] = {}
    for s in held:
        moment = s.held_at or s.scheduled_at
        if s.tandem_id not in first or moment < first[s.tandem_id]:
            first[s.tandem_id] = moment
    day = timedelta(days=1)
    waits = [
        Fraction(
            (moment - activated_at[tid]) // timedelta(microseconds=1),
            day // timedelta(microseconds=1),
        )
        for tid, moment in first.items()
    ]
    activation = {
        "approved": fig.count(len(d.approved), total),
        "activated": fig.count(n_act, len(d.approved)),
        "rate": fig.rate(n_act, len(d.approved), len(d.approved)),
        "median_days_to_first_session": fig.number(_median(waits), len(waits)),
    }

    held_by_tandem = Counter(s.tandem_id for s in held)
    minutes = sum(s.minutes or 0 for s in held)
    cutoff = datetime.combine(d.as_of, time(0), tzinfo=UTC)
    planned = [s for s in sessions if s.status is SessionStatus.PLANNED]
    overdue = sum(1 for s in planned if s.scheduled_at < cutoff)
    session_figures = {
        "scheduled": fig.count(len(sessions), n_act),
        "held": fig.count(len(held), n_act),
        "held_qualifying": fig.count(
            sum(1 for s in held if (s.minutes or 0) >= program.min_session_minutes), n_act
        ),
        "held_per_activated_tandem": fig.number(
            Fraction(len(held), n_act) if n_act else None, n_act
        ),
        "target_reached_share": fig.rate(
            sum(1 for tid in d.activated if held_by_tandem[tid] >= program.target_sessions),
            n_act,
            n_act,
        ),
        "held_minutes": fig.count(minutes, n_act),
        "held_hours": fig.number(Fraction(minutes, 60), n_act),
        "planned_not_held": fig.count(overdue, n_act),
        "planned_upcoming": fig.count(len(planned) - overdue, n_act),
        "closed_unheld": fig.count(
            sum(
                1
                for s in sessions
                if s.status is SessionStatus.CANCELLED and s.cancelled_by_role is None
            ),
            n_act,
        ),
    }

    # A session still planned when its tandem ended is closed by nobody: not a cancellation.
    cancelled = [s for s in sessions if s.status is SessionStatus.CANCELLED and s.cancelled_by_role]
    cancellations: dict[str, Any] = {
        "count": fig.count(len(cancelled), n_act),
        "share": fig.rate(len(cancelled), len(sessions), n_act),
        "by_role": {},
    }
    for role in ROLES:
        k = sum(
            1
            for s in cancelled
            if s.cancelled_by_role is not None and s.cancelled_by_role.value == role
        )
        cancellations["by_role"][role] = {
            "count": fig.count(k, n_act),
            "share": fig.rate(k, len(sessions), n_act),
        }

    dissolved = [t for t in d.tandems if t.status is TandemStatus.DISSOLVED]
    no_fault = sum(1 for t in dissolved if t.no_fault)
    dissolutions = {
        "no_fault": fig.count(no_fault, total),
        "other": fig.count(len(dissolved) - no_fault, total),
    }

    done = set(d.completions)
    active_all = {e.id for e in d.enrollments if e.status is EnrollmentStatus.ACTIVE}
    completions: dict[str, Any] = {
        "count": fig.count(len(d.completions), len(active_all)),
        "share": fig.rate(len(done & active_all), len(active_all), len(active_all)),
        "by_role": {},
    }
    for role in ROLES:
        active = d.enrollments_of(role, active_only=True)
        mine = [e for e in d.completions if d.role_of.get(e) == role]
        completions["by_role"][role] = {
            "count": fig.count(len(mine), len(active)),
            "share": fig.rate(len(done & active), len(active), len(active)),
        }

    alerts = {kind.value: fig.count(d.alerts[kind.value], n_act) for kind in AlertKind}
    return {
        "enrolled": enrolled,
        "matched": matched,
        "tandems": tandems,
        "activation": activation,
        "sessions": session_figures,
        "cancellations": cancellations,
        "dissolved": dissolutions,
        "completions": completions,
        "open_alerts": alerts,
    }


# --------------------------------------------------------------------------- public API


def build_report(
    session: Session,
    actor: Actor,
    program_id: int,
    *,
    as_of: date | None = None,
    min_group: int = MIN_GROUP,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The program's report on Kirkpatrick's levels (audited ``report.generated``).

    Args:
        session: The unit of work; only the audit event is written (flushed, not committed).
        actor: A coordinator of the program or an organization admin.
        program_id: The program.
        as_of: The day retention is measured on and overdue sessions are counted before;
            today (UTC, from ``now``) by default.
        min_group: Figures over fewer respondents/people/tandems are suppressed; at least
            :data:`MIN_GROUP`.
        now: The current time (injected by simulations); :func:`plugin.db.utcnow` by default.

    Returns:
        A JSON-ready dict with the sections ``program``, ``reaction``, ``learning``,
        ``behaviour``, ``results``, ``process`` and ``definitions`` (see the module docs).

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor does not coordinate the program (e.g. a participant).
        ValidationError: ``as_of`` is not a date or ``min_group`` is below :data:`MIN_GROUP`.
    """
    program = session.get(Program, program_id)
    if program is None or program.org_id != actor.org_id:
        raise NotFound(
            N_("program %(program)s not found in this organization"),
            field="program",
            program=program_id,
        )
    require_coordinator(session, actor, program.id)
    if isinstance(min_group, bool) or not isinstance(min_group, int) or min_group < MIN_GROUP:
        raise ValidationError(
            N_(
                "min_group must be a whole number of at least %(min)s: groups under "
                "%(min)s people are never shown (got %(value)s)"
            ),
            field="min_group",
            min=MIN_GROUP,
            value=repr(min_group),
        )
    if as_of is not None and (isinstance(as_of, datetime) or not isinstance(as_of, date)):
        raise ValidationError(
            N_("as_of must be a calendar date (YYYY-MM-DD), got %(value)s"),
            field="as_of",
            value=repr(as_of),
        )
    now = now or utcnow()
    day = as_of or now.astimezone(UTC).date()
    data = _load(session, program, day)
    fig = _Figures(min_group)
    report: dict[str, Any] = {
        "program": {
            "id": program.id,
            "name": program.name,
            "format": program.format.value,
            "status": program.status.value,
            "starts_on": program.starts_on.isoformat(),
            "ends_on": program.ends_on.isoformat(),
            "target_sessions": program.target_sessions,
            "cadence_days": program.cadence_days,
            "min_session_minutes": program.min_session_minutes,
            "as_of": day.isoformat(),
            "generated_at": now.astimezone(UTC).isoformat(),
            "min_group": min_group,
        },
        "reaction": _reaction(data, fig),
        "learning": _learning(session, data, fig),
        "behaviour": _behaviour(data, fig),
        "results": _results(session, data, fig),
        "process": _process(data, fig),
        "definitions": copy.deepcopy(DEFINITIONS),
    }
    event = audit.record(
        session,
        org_id=program.org_id,
        actor=actor.label,
        action="report.generated",
        object_type="program",
        object_id=program.id,
        details={"program_id": program.id},
    )
    event.created_at = now
    session.flush()
    return report


def _is_figure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == _FIGURE_KEYS


def _walk(
    node: Any, path: tuple[str, ...], role: str | None, skill: str | None
) -> Iterator[tuple[tuple[str, ...], str | None, str | None, Figure]]:
    if _is_figure(node):
        yield path, role, skill, node
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "skills" and isinstance(value, list):
            for item in value:
                yield from _walk(item.get("by_role"), (*path, "skill"), role, item.get("code"))
        elif key in ROLES:
            yield from _walk(value, path, key, skill)
        elif key == "by_role":
            yield from _walk(value, path, role, skill)
        else:
            yield from _walk(value, (*path, key), role, skill)


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten a report to rows ``{level, metric, role, skill, value, n, suppressed}``.

    ``metric`` is the figure's path within its level without role and skill (so
    ``f"{level}.{metric}"`` is its key in ``definitions``); ``role`` is ``mentor``,
    ``mentee`` or ``None``; ``skill`` is a skill code or ``None``. Rows keep the report's
    order, level by level.
    """
    rows: list[dict[str, Any]] = []
    for level in _LEVELS:
        for path, role, skill, figure in _walk(report.get(level), (), None, None):
            rows.append(
                {
                    "level": level,
                    "metric": ".".join(path),
                    "role": role,
                    "skill": skill,
                    "value": figure["value"],
                    "n": figure["n"],
                    "suppressed": figure["suppressed"],
                }
            )
    return rows


# --------------------------------------------------------------------------- per month

# At most 20 years of months: a guard against absurd dates, not a product limit.
_MAX_MONTHS = 240


def _readable_program(session: Session, actor: Actor, program_id: int) -> Program:
    program = session.get(Program, program_id)
    if program is None or program.org_id != actor.org_id:
        raise NotFound(
            N_("program %(program)s not found in this organization"),
            field="program",
            program=program_id,
        )
    require_coordinator(session, actor, program.id)
    return program


def _month_key(moment: datetime) -> tuple[int, int]:
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they are UTC
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.year, moment.month


def _program_span(
    program: Program, seen: Iterable[tuple[int, int]], today: date
) -> list[tuple[int, int]]:
    """The months from the program's start to today (or its end), and any month seen."""
    end_day = min(program.ends_on, today) if today >= program.starts_on else program.starts_on
    keys = [
        (program.starts_on.year, program.starts_on.month),
        (end_day.year, end_day.month),
        *seen,
    ]
    out: list[tuple[int, int]] = []
    year, month = min(keys)
    last = max(keys)
    while (year, month) <= last and len(out) < _MAX_MONTHS:
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _today(now: datetime | None) -> date:
    return (now or utcnow()).astimezone(UTC).date()


def sessions_by_month(
    session: Session, actor: Actor, *, program_id: int, now: datetime | None = None
) -> list[dict[str, int]]:
    """The program's sessions per calendar month (UTC), from its start to today or its end.

    A held session counts in the month it was held, any other in the month it was
    scheduled for. Counts of sessions are not about individuals, so none is suppressed.

    Args:
        session: The unit of work (read only).
        actor: A coordinator of the program or an organization admin.
        program_id: The program.
        now: The current time (injected by simulations); :func:`plugin.db.utcnow` by default.

    Returns:
        One dict per month, oldest first: ``year``, ``month``, ``held``, ``planned``,
        ``cancelled_mentor`` / ``cancelled_mentee`` (cancelled by a junior / a senior) and
        ``closed`` (cancelled when the tandem or program ended).

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor does not coordinate the program.
    """
    program = _readable_program(session, actor, program_id)
    rows = session.execute(
        select(
            MentoringSession.status,
            MentoringSession.scheduled_at,
            MentoringSession.held_at,
            MentoringSession.cancelled_by_role,
        )
        .join(Tandem, Tandem.id == MentoringSession.tandem_id)
        .where(Tandem.org_id == program.org_id, Tandem.program_id == program.id)
    ).all()
    counts: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for status, scheduled_at, held_at, cancelled_by in rows:
        key = _month_key(held_at if status is SessionStatus.HELD and held_at else scheduled_at)
        if status is SessionStatus.CANCELLED:
            who = cancelled_by.value if cancelled_by is not None else "closed"
            counts[key][f"cancelled_{who}"] += 1
        else:
            counts[key][status.value] += 1
    return [
        {
            "year": year,
            "month": month,
            "held": counts[(year, month)]["held"],
            "planned": counts[(year, month)]["planned"],
            "cancelled_mentor": counts[(year, month)]["cancelled_mentor"],
            "cancelled_mentee": counts[(year, month)]["cancelled_mentee"],
            "closed": counts[(year, month)]["cancelled_closed"],
        }
        for year, month in _program_span(program, counts, _today(now))
    ]


def feedback_trend(
    session: Session, actor: Actor, *, program_id: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The mean session rating per calendar month (UTC) of the session, small groups withheld.

    A month whose ratings come from fewer than :data:`MIN_GROUP` distinct authors shows
    neither its mean nor its number of ratings (DESIGN §5/§6).

    Args:
        session: The unit of work (read only).
        actor: A coordinator of the program or an organization admin.
        program_id: The program.
        now: The current time (injected by simulations); :func:`plugin.db.utcnow` by default.

    Returns:
        One dict per month, oldest first: ``year``, ``month``, ``mean`` (2 decimals, or
        ``None``), ``count`` (ratings, or ``None`` when withheld), ``n`` (distinct authors)
        and ``suppressed`` (there were ratings, but too few authors to show them).

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor does not coordinate the program.
    """
    program = _readable_program(session, actor, program_id)
    rows = session.execute(
        select(
            Feedback.author_id,
            Feedback.rating,
            MentoringSession.held_at,
            MentoringSession.scheduled_at,
        )
        .join(MentoringSession, MentoringSession.id == Feedback.session_id)
        .join(Tandem, Tandem.id == MentoringSession.tandem_id)
        .where(Tandem.org_id == program.org_id, Tandem.program_id == program.id)
    ).all()
    ratings: dict[tuple[int, int], list[int]] = defaultdict(list)
    authors: dict[tuple[int, int], set[int]] = defaultdict(set)
    for author_id, rating, held_at, scheduled_at in rows:
        key = _month_key(held_at or scheduled_at)
        ratings[key].append(int(rating))
        if author_id is not None:
            authors[key].add(author_id)
    out: list[dict[str, Any]] = []
    for year, month in _program_span(program, ratings, _today(now)):
        key = (year, month)
        n = len(authors[key])
        suppressed = n < MIN_GROUP
        values = ratings[key]
        mean = _round(Fraction(sum(values), len(values)), 2) if values and not suppressed else None
        out.append(
            {
                "year": year,
                "month": month,
                "mean": mean,
                "count": None if suppressed else len(values),
                "n": n,
                "suppressed": suppressed and bool(values),
            }
        )
    return out
