"""The Tandem activities a course can link to (deep linking) and where each one lands.

A resource link carries the activity in its custom parameters (``activity=my_tandem``,
``program=<id>``) — never in the launch URL's query string, which Moodle would have to
list among its redirection URIs. After a launch, :func:`landing_endpoint` picks the page.

Titles and descriptions are translated when they are read (:attr:`Activity.title`,
:attr:`Activity.description` are plain strings in the request's language), so the picker,
the link titles sent to the platform and anything stored as JSON get ordinary text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lti.i18n import lazy_gettext

__all__ = ["ACTIVITIES", "Activity", "by_key", "landing_endpoint"]


@dataclass(frozen=True, slots=True)
class Activity:
    """One pickable activity.

    Attributes:
        key: The value of the ``activity`` custom parameter.
        title_text: Default link title in the course (a lazy translation).
        description_text: One line for the picker (a lazy translation).
        endpoint: The Flask endpoint of its page.
        needs_program: Whether the link is bound to one program.
        graded: Whether the link gets a line item (completion is posted to it).
        coordinator_only: Whether only coordinators can open it.
    """

    key: str
    title_text: Any
    description_text: Any
    endpoint: str
    needs_program: bool
    graded: bool = False
    coordinator_only: bool = False

    @property
    def title(self) -> str:
        """Default link title in the course, in the request's language."""
        return str(self.title_text)

    @property
    def description(self) -> str:
        """One line for the picker, in the request's language."""
        return str(self.description_text)


ACTIVITIES: tuple[Activity, ...] = (
    Activity(
        "program",
        lazy_gettext("Reverse mentoring: program overview"),
        lazy_gettext("What the program is, its dates, themes and how to take part."),
        "pages.program_overview",
        needs_program=True,
    ),
    Activity(
        "my_tandem",
        lazy_gettext("Reverse mentoring: my tandem"),
        lazy_gettext(
            "Your partner(s), why you were matched, the next session and your progress. "
            "Graded: completion is posted to the gradebook."
        ),
        "pages.my_tandem",
        needs_program=True,
        graded=True,
    ),
    Activity(
        "sessions",
        lazy_gettext("Reverse mentoring: session log"),
        lazy_gettext("Plan, log and cancel sessions, with private notes."),
        "pages.sessions",
        needs_program=True,
    ),
    Activity(
        "self_assessment",
        lazy_gettext("Reverse mentoring: self-assessment"),
        lazy_gettext("The pre- and post-program self-assessment on the program's skills."),
        "pages.self_assessment",
        needs_program=True,
    ),
    Activity(
        "feedback",
        lazy_gettext("Reverse mentoring: feedback"),
        lazy_gettext("Feedback after each session and the end-of-program survey."),
        "pages.feedback",
        needs_program=True,
    ),
    Activity(
        "dashboard",
        lazy_gettext("Reverse mentoring: coordinator dashboard"),
        lazy_gettext("Enrollments, matching, follow-up and outcomes (coordinators only)."),
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
