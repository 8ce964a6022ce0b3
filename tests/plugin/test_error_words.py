"""Statuses, roles and lists of them in messages: English as before, translated word by word.

A German "translator" here is a plain dictionary (the real catalogue is exercised in
``tests/lti/test_i18n_fragments.py``), so these tests hold whatever the catalogue says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import (
    N_,
    ConnectorAuthError,
    ConnectorDataError,
    ConnectorError,
    ConnectorUnavailable,
    Msg,
    PluginError,
    Refusal,
    ValidationError,
    Words,
    word,
    words,
)
from plugin.models import (
    AlertStatus,
    GoalStatus,
    Organization,
    OutboxStatus,
    ProgramFormat,
    ProgramStatus,
)
from plugin.services import alerts, lti_registrations, outbox, programs, roster, writeback

GERMAN = {
    "draft": "In Vorbereitung",
    "enrolling": "Anmeldung geöffnet",
    "running": "Läuft",
    "closed": "Beendet",
    "mentor": "Junior (Mentor:in)",
    "mentee": "Senior (Mentee)",
    "open": "Offen",
    "in_progress": "In Arbeit",
    "met": "Erreicht",
    "dropped": "Verworfen",
    "acknowledged": "Zur Kenntnis genommen",
    "resolved": "Erledigt",
    "all": "alle",
    "pending": "Ausstehend",
    "one_to_one": "Eins-zu-eins",
    "and": "und",
    "or": "oder",
    "unknown goal status %(status)s; choose one of %(statuses)s": (
        "Unbekannter Zielstatus %(status)s; wählen Sie einen der folgenden: %(statuses)s"
    ),
    "member %(member)s: %(problem)s": "Mitglied %(member)s: %(problem)s",
    "member %(member)s: not an object": "Mitglied %(member)s: kein JSON-Objekt",
    "%(name)s must be text": "%(name)s muss ein Text sein",
    "goal %(index)s": "Ziel %(index)s",
    "title": "Der Titel",
    "%(call)s failed: %(state)s": "%(call)s fehlgeschlagen: %(state)s",
}


def german(message: str) -> str:
    return GERMAN.get(message, message)


def english(message: str) -> str:
    return message


def raised(call: Callable[[], Any]) -> PluginError:
    with pytest.raises(PluginError) as info:
        call()
    return info.value


# --------------------------------------------------------------------------- words


def test_words_read_as_the_old_english_join() -> None:
    assert words(ProgramStatus) == ", ".join(s.value for s in ProgramStatus)
    assert words(["mentor", "mentee"], last="and") == "mentor and mentee"
    assert words(["mentor"], last="and") == "mentor"
    assert words([], last="or") == ""
    assert words(["a", "b", "c"], last="or") == "a, b or c"
    assert json.dumps({"choices": words(GoalStatus)}) == (
        '{"choices": "open, in_progress, met, dropped"}'
    )


def test_words_render_each_known_word_translated() -> None:
    assert words(GoalStatus).render(german) == "Offen, In Arbeit, Erreicht, Verworfen"
    roles = words(["mentor", "mentee"], last="and")
    assert roles.render(german) == "Junior (Mentor:in) und Senior (Mentee)"
    assert roles.render(english) == "mentor and mentee"
    # unknown values (vendor names, ids) are shown as they are
    assert words(["successfactors", "draft"], last="or").render(german) == (
        "successfactors oder In Vorbereitung"
    )


def test_word_keeps_a_marked_word_and_marks_every_status() -> None:
    done = Msg(N_("all"))
    assert word(done) is done
    for enum in (AlertStatus, OutboxStatus, ProgramFormat, GoalStatus):
        assert all(isinstance(word(member), Msg) for member in enum), enum


def test_a_words_value_in_an_error_is_translated_item_by_item() -> None:
    exc = ValidationError(
        N_("unknown goal status %(status)s; choose one of %(statuses)s"),
        field="status",
        status=repr("x"),
        statuses=words(GoalStatus),
    )
    assert exc.message == "unknown goal status 'x'; choose one of open, in_progress, met, dropped"
    assert exc.render(english) == exc.message
    assert exc.render(german) == (
        "Unbekannter Zielstatus 'x'; wählen Sie einen der folgenden: "
        "Offen, In Arbeit, Erreicht, Verworfen"
    )


def test_words_work_in_refusals_too() -> None:
    refusal = Refusal(N_("member %(member)s: %(problem)s"), member=1, problem=words(["draft"]))
    assert refusal == "member 1: draft"
    assert refusal.render(german) == "Mitglied 1: In Vorbereitung"


def test_words_is_exported() -> None:
    assert isinstance(words(["x"]), Words)


# --------------------------------------------------------------------------- services


@pytest.mark.parametrize(
    ("call", "message", "de_list"),
    [
        (
            lambda: programs._parse_status("nope"),
            "unknown program status 'nope'; choose one of draft, enrolling, matching, running, "
            "closed",
            None,
        ),
        (
            lambda: programs._parse_format("nope"),
            "unknown program format 'nope'; choose one of one_to_one, group, bidirectional, "
            "project",
            "Eins-zu-eins, group, bidirectional, project",
        ),
        (
            lambda: alerts._parse_status("nope"),
            "unknown alert status 'nope'; choose one of open, acknowledged, resolved, all",
            "Offen, Zur Kenntnis genommen, Erledigt, alle",
        ),
        (
            lambda: outbox._status("nope"),
            "unknown outbox status 'nope'; choose from pending, delivering, delivered, dead",
            "Ausstehend, delivering, delivered, dead",
        ),
        (
            lambda: lti_registrations._status("nope"),
            "unknown deployment status 'nope'; use one of pending, approved, revoked",
            "Ausstehend, approved, revoked",
        ),
        (
            lambda: writeback._kinds(["nope"]),
            "unknown message kind 'nope'; choose from completion, hours, skill_gain, progress",
            None,
        ),
    ],
)
def test_choice_lists_keep_their_english_and_translate_their_words(
    call: Callable[[], Any], message: str, de_list: str | None
) -> None:
    exc = raised(call)
    assert exc.message == message
    assert str(exc) == message
    assert exc.render(english) == message
    if de_list is not None:
        # the template is not in the small dictionary: only the words are translated
        assert exc.render(german).endswith(de_list)


def test_a_refused_program_move_names_the_allowed_statuses_translated(
    db_session: Session, org: Organization, make_program: Any
) -> None:
    program = make_program(org, status="draft")
    exc = raised(lambda: programs.set_program_status(db_session, program, "running", actor="t"))
    assert exc.message == "a program cannot go from draft to running; allowed: closed, enrolling"
    assert exc.params["allowed"] == "closed, enrolling"
    assert exc.render(german).endswith("allowed: Beendet, Anmeldung geöffnet")


# --------------------------------------------------------------------------- roster problems


def test_roster_problems_are_english_text_that_translates(
    db_session: Session, org: Organization, make_program: Any
) -> None:
    program = make_program(org)
    registration = lti_registrations.add_platform(
        db_session,
        org_id=org.id,
        issuer="https://lms.example.org",
        client_id="c1",
        auth_login_url="https://lms.example.org/auth",
        auth_token_url="https://lms.example.org/token",
        jwks_url="https://lms.example.org/jwks",
        deployment_ids=["1"],
        actor="test",
    )
    members: list[Any] = ["not a member", {"status": "Active", "roles": []}]
    result = roster.import_roster(
        db_session,
        Actor.admin(org.id, "test-admin"),
        program_id=program.id,
        registration_id=registration.id,
        members=members,
        source="nrps:1",
    )
    first, second = result.problems
    assert first == "member 1: not an object"
    assert second.startswith("member 2: This launch does not say who you are")
    assert json.loads(json.dumps(result.as_dict()))["problems"] == [first, second]
    assert isinstance(first, Refusal)
    assert isinstance(second, Refusal)
    assert first.render(german) == "Mitglied 1: kein JSON-Objekt"
    assert second.render(german).startswith("Mitglied 2: This launch")


# --------------------------------------------------------------------------- connector errors


def test_connector_errors_built_as_before_keep_their_message_as_is() -> None:
    # a redacted URL may hold "%": without values nothing is formatted
    exc = ConnectorDataError(
        "GET https://x.example/a%20b: HTTP 404", connector="moodle", status=404
    )
    assert exc.message == str(exc) == "GET https://x.example/a%20b: HTTP 404"
    assert exc.render(german) == exc.message
    assert (exc.connector, exc.status, exc.field, exc.params) == ("moodle", 404, None, {})
    slow = ConnectorUnavailable("timeout", connector="workday", retry_after=3.0)
    assert (slow.message, slow.retry_after, slow.status) == ("timeout", 3.0, None)
    assert isinstance(ConnectorAuthError("no", connector="x"), ConnectorError)


@pytest.mark.parametrize(
    "cls", [ConnectorError, ConnectorAuthError, ConnectorDataError, ConnectorUnavailable]
)
def test_connector_errors_take_template_values(cls: type[ConnectorError]) -> None:
    exc = cls(
        N_("%(call)s failed: %(state)s"),
        connector="moodle",
        status=503,
        field="target",
        call="core_user_get_users",
        state=word("pending"),
    )
    assert exc.message == "core_user_get_users failed: pending"
    assert exc.render(german) == "core_user_get_users fehlgeschlagen: Ausstehend"
    assert (exc.connector, exc.status, exc.field) == ("moodle", 503, "target")
    assert exc.status_code == cls.status_code


def test_connector_unavailable_takes_values_and_retry_after() -> None:
    exc = ConnectorUnavailable(
        N_("%(call)s failed: %(state)s"),
        connector="workday",
        status=429,
        retry_after=12.0,
        call="Workers",
        state="busy",
    )
    assert exc.message == "Workers failed: busy"
    assert exc.retry_after == 12.0
    assert exc.params == {"call": "Workers", "state": "busy"}
