"""Core messages rendered with the German catalogue: lists and status words come out German.

The statuses, roles and lists of them that the core fills into its messages are
:class:`plugin.errors.Msg` / :func:`plugin.errors.words` values; pages translate them word
by word. English (the CLI, the JSON of the core) reads exactly as before.

The German is the committed catalogue (``messages.po``, compiled here in memory). Where a
test names German literally, the words were translated before these tests were written;
for newer words the expectation is looked up in the same catalogue, so that a missing
translation is reported once, by ``tests/lti/test_i18n.py``.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import PluginError, ValidationError
from plugin.models import Organization
from plugin.services import assessments, enrollments, programs, tandems
from tests.lti.test_i18n import PO
from tests.plugin.tracking import conftest as tracking

T0 = tracking.T0
world = tracking.world
make_pair = tracking.make_pair


@cache
def _german() -> gettext.GNUTranslations:
    with PO.open("rb") as fh:
        catalog = read_po(fh, locale="de")
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def de(message: str) -> str:
    return _german().gettext(message)


def en(message: str) -> str:
    return message


def raised(call: Callable[[], Any]) -> PluginError:
    with pytest.raises(PluginError) as info:
        call()
    return info.value


def test_a_list_of_program_statuses_is_german_and_its_english_unchanged() -> None:
    exc = raised(lambda: programs._parse_status("paused"))
    english = (
        "unknown program status 'paused'; choose one of draft, enrolling, matching, running, closed"
    )
    assert exc.message == english
    assert exc.render(en) == english
    assert exc.render(de) == (
        "Unbekannter Programmstatus 'paused'; möglich sind: In Vorbereitung, "
        "Anmeldung geöffnet, Matching läuft, Läuft, Beendet"
    )


def test_the_allowed_moves_of_a_program_are_german(
    db_session: Session, org: Organization, make_program: Any
) -> None:
    program = make_program(org, status="draft")
    exc = raised(lambda: programs.set_program_status(db_session, program, "running", actor="t"))
    assert exc.message == "a program cannot go from draft to running; allowed: closed, enrolling"
    assert exc.render(de) == (
        "Ein Programm kann nicht von „In Vorbereitung“ zu „Läuft“ wechseln; möglich ist: "
        "Beendet, Anmeldung geöffnet"
    )


def test_two_roles_are_joined_with_a_german_and(
    db_session: Session, org: Organization, make_person: Any, make_program: Any
) -> None:
    program = make_program(org, format="group")
    person = make_person(org)
    for role in ("mentor", "mentee"):
        enrollments.enroll(
            db_session, program=program, person=person, role=role, consent=True, actor="t"
        )
    exc = raised(
        lambda: assessments.own_enrollment(
            db_session, Actor.participant(org.id, person.id), program
        )
    )
    assert "as mentor and mentee; say which role" in exc.message
    assert "(Junior (Mentor:in) und Senior (Mentee))" in exc.render(de)
    assert "mentor and mentee" not in exc.render(de)


def test_goal_statuses_are_listed_in_the_pages_language(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("active")
    goal = tandems.add_goal(db_session, p.mentor_actor, p.tandem.id, title="Use AI weekly", now=T0)
    exc = raised(
        lambda: tandems.set_goal_status(db_session, p.mentor_actor, goal.id, status="done", now=T0)
    )
    assert exc.message == (
        "unknown goal status 'done'; choose one of open, in_progress, met, dropped"
    )
    listed = ", ".join(de(s) for s in ("open", "in_progress", "met", "dropped"))
    assert exc.render(de) == de("unknown goal status %(status)s; choose one of %(statuses)s") % {
        "status": "'done'",
        "statuses": listed,
    }


def test_a_goal_that_is_not_text_is_named_in_the_pages_language(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("accepted")
    goals: list[Any] = ["Use AI weekly", 42]
    with pytest.raises(ValidationError) as info:
        tandems.record_kickoff(
            db_session,
            p.mentor_actor,
            p.tandem.id,
            expectations="Fine.",
            meeting_mode="video",
            goals=goals,
            now=T0,
        )
    exc = info.value
    assert exc.message == "goal 2 must be text"
    label = de("goal %(index)s") % {"index": 2}
    assert exc.render(de) == de("%(name)s must be text") % {"name": label}
    assert exc.render(de).startswith(label)
