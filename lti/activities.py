"""The Tandem activities a course can link to (deep linking) and where each one lands.

A resource link carries the activity in its custom parameters (``activity=my_tandem``,
``program=<id>``) — never in the launch URL's query string, which Moodle would have to
list among its redirection URIs. After a launch, :func:`landing_endpoint` picks the page.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACTIVITIES", "Activity", "by_key", "landing_endpoint"]


@dataclass(frozen=True, slots=True)
class Activity:
    """One pickable activity.

    Attributes:
        key: The value of the ``activity`` custom parameter.
        title: Default link title in the course.
        description: One line for the picker.
        endpoint: The Flask endpoint of its page.
        needs_program: Whether the link is bound to one program.
        graded: Whether the link gets a line item (completion is posted to it).
        coordinator_only: Whether only coordinators can open it.
    """

    key: str
    title: str
    description: str
    endpoint: str
    needs_program: bool
    graded: bool = False
    coordinator_only: bool = False


ACTIVITIES: tuple[Activity, ...] = (
    Activity(
        "program",
        "Reverse mentoring: program overview",
        "What the program is, its dates, themes and how to take part.",
        "pages.program_overview",
        needs_program=True,
    ),
    Activity(
        "my_tandem",
        "Reverse mentoring: my tandem",
        "Your partner(s), why you were matched, the next session and your progress. "
        "Graded: completion is posted to the gradebook.",
        "pages.my_tandem",
        needs_program=True,
        graded=True,
    ),
    Activity(
        "sessions",
        "Reverse mentoring: session log",
        "Plan, log and cancel sessions, with private notes.",
        "pages.sessions",
        needs_program=True,
    ),
    Activity(
        "self_assessment",
        "Reverse mentoring: self-assessment",
        "The pre- and post-program self-assessment on the program's skills.",
        "pages.self_assessment",
        needs_program=True,
    ),
    Activity(
        "feedback",
        "Reverse mentoring: feedback",
        "Feedback after each session and the end-of-program survey.",
        "pages.feedback",
        needs_program=True,
    ),
    Activity(
        "dashboard",
        "Reverse mentoring: coordinator dashboard",
        "Enrollments, matching, follow-up and outcomes (coordinators only).",
        "pages.dashboard",
        needs_program=True,
        coordinator_only=True,
    ),
)

_BY_KEY = {a.key: a for a in ACTIVITIES}


def by_key(key: str | None) -> Activity | None:
    """The activity named ``key``, or None for an unknown or missing key."""
    return _BY_KEY.get(key or "")


def landing_endpoint(activity: str | None, *, coordinator: bool) -> str:
    """Where a launch lands: the activity's page, else home for the role.

    Coordinators launching a participant activity land on it too (they may be taking
    part); participants launching the dashboard land on "my tandem".
    """
    found = by_key(activity)
    if found is None:
        return "pages.dashboard" if coordinator else "pages.my_tandem"
    if found.coordinator_only and not coordinator:
        return "pages.my_tandem"
    return found.endpoint
