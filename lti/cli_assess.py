"""``tandem assessments …`` and ``tandem completions …``.

Participant commands name the person they are done for (``--as PERSON_ID``);
coordinator commands run as an organization admin unless ``--coordinator PERSON_ID``
names a coordinator of the program. Every command commits once, at the end.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lti.cli import Progress, handle_errors
from lti.cli_common import as_coordinator, as_participant, echo_json, program_in
from lti.db import commit, get_session
from plugin.models import Enrollment, Person
from plugin.services import assessments, completions

__all__ = ["assessments_group", "completions_group"]

_KIND_NAMES = {"pre": "pre-assessment", "post": "post-assessment", "follow_up": "follow-up"}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise click.BadParameter(f"skill {key} is answered twice", param_hint="--answers")
        out[key] = value
    return out


def _read_answers(text: str | None, stream: TextIO | None) -> Any:
    if (text is None) == (stream is None):
        raise click.UsageError("give the answers with either --answers JSON or --answers-file F")
    source = text if text is not None else stream.read() if stream is not None else ""
    try:
        return json.loads(source, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"not valid JSON: {exc.msg} at {exc.pos}", param_hint="--answers"
        ) from None


def _levels(levels: dict[str, int]) -> str:
    return " · ".join(f"{code} {level}" for code, level in levels.items()) or "-"


def _gains(gains: dict[str, int]) -> str:
    return " · ".join(f"{code} {gain:+d}" if gain else f"{code} 0" for code, gain in gains.items())


def _status_lines(status: completions.CompletionStatus) -> list[str]:
    done = status.completion
    lines = [
        f"sessions that count: {status.sessions_held}/{status.sessions_needed} "
        f"(at least {status.min_minutes} min) · held time {status.minutes} min "
        f"({status.hours:g} h) · post-assessment "
        f"{'submitted' if status.post_assessment else 'not submitted'}"
        f"{'' if status.post_required else ' (not required)'}"
    ]
    if done is not None:
        lines.append(
            f"completed on {done.completed_at:%Y-%m-%d} ({done.sessions_held} sessions, "
            f"{done.minutes} min recorded)"
        )
    elif status.met:
        lines.append("the rule is met; the completion is recorded at the next evaluation")
    else:
        lines.append("still missing: " + "; ".join(status.missing))
    return lines


# --------------------------------------------------------------------------- assessments


@click.group("assessments")
def assessments_group() -> None:
    """Pre/post/follow-up self-assessments and the end-of-program survey."""


_program_option = click.option(
    "--program", "program_id", type=int, required=True, help="Program id."
)
_org_option = click.option(
    "--org", "org_slug", help="Organization slug (checks the program belongs to it)."
)
_as_option = click.option(
    "--as", "person_id", type=int, required=True, help="The participant (person id) acting."
)
_role_option = click.option(
    "--role",
    type=click.Choice(["mentor", "mentee"]),
    help="Needed only if the person is enrolled in both roles.",
)


@assessments_group.command("skills")
@_program_option
@_org_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def assessments_skills(program_id: int, org_slug: str | None, as_json: bool) -> None:
    """List the skills a program's participants assess themselves on."""
    program = program_in(program_id, org_slug)
    skills = assessments.program_skills(get_session(), program)
    rows = [
        {
            "code": s.code,
            "name": s.name,
            "name_de": s.name_de or s.name,
            "category": s.category.value,
        }
        for s in skills
    ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"program {program.id} has no skills to assess (the catalogue is empty)")
    for row in rows:
        click.echo(f"{row['code']}\t{row['name']}\t{row['name_de']}\t{row['category']}")


@assessments_group.command("submit")
@_program_option
@_org_option
@_as_option
@click.option(
    "--kind", type=click.Choice(["pre", "post", "follow_up"]), required=True, help="Which one."
)
@click.option("--answers", help="Skill code → level 1–5 as JSON, e.g. '{\"AI-TOOLS\": 2}'.")
@click.option(
    "--answers-file", type=click.File("r", encoding="utf-8"), help="The answers as a JSON file."
)
@_role_option
@with_appcontext
@handle_errors
def assessments_submit(
    program_id: int,
    org_slug: str | None,
    person_id: int,
    kind: str,
    answers: str | None,
    answers_file: TextIO | None,
    role: str | None,
) -> None:
    """Submit a participant's self-assessment (every program skill, once each)."""
    data = _read_answers(answers, answers_file)
    session = get_session()
    program = program_in(program_id, org_slug)
    actor = as_participant(program.org_id, person_id)
    assessment = assessments.submit_assessment(
        session, actor, program.id, kind=kind, answers=data, role=role
    )
    enrollment = session.get_one(Enrollment, assessment.enrollment_id)
    status = None
    if kind != "pre":
        status = completions.completion_status(session, enrollment.id)
    levels = assessments.assessment_levels(session, assessment.id)
    gains = (
        assessments.skill_gains(session, enrollment.id)
        if kind == "post"
        else assessments.follow_up_gains(session, enrollment.id)
        if kind == "follow_up"
        else {}
    )
    commit()
    click.echo(
        f"{_KIND_NAMES[kind]} {assessment.id} submitted for person {person_id} "
        f"({enrollment.role.value}) in program {program.id}: {_levels(levels)}"
    )
    if gains:
        click.echo(f"  gains since the pre-assessment: {_gains(gains)}")
    if status is not None:
        for line in _status_lines(status):
            click.echo(f"  {line}")


@assessments_group.command("show")
@_program_option
@_org_option
@_as_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def assessments_show(program_id: int, org_slug: str | None, person_id: int, as_json: bool) -> None:
    """Show a participant's own answers, gains and what is still open for them."""
    program = program_in(program_id, org_slug)
    actor = as_participant(program.org_id, person_id)
    data = assessments.my_assessments(get_session(), actor, program.id)
    if as_json:
        echo_json(data)
        return
    prog = data["program"]
    click.echo(f"Program {prog['id']} {prog['name']!r} ({prog['status']}) · person {person_id}")
    click.echo("Skills: " + ", ".join(f"{s['code']} ({s['name']})" for s in data["skills"]))
    for e in data["enrollments"]:
        click.echo(f"\nAs {e['role']} (enrollment {e['enrollment_id']}, {e['status']})")
        for kind, a in e["assessments"].items():
            click.echo(f"  {kind:<10}submitted {a['submitted_at'][:10]}: {_levels(a['answers'])}")
        if e["gains"]:
            click.echo(f"  gains (post − pre): {_gains(e['gains'])}")
        if e["follow_up_gains"]:
            click.echo(f"  gains (follow-up − pre): {_gains(e['follow_up_gains'])}")
        click.echo(f"  open now: {', '.join(e['open']) or 'nothing'}")
        for kind, reason in e["not_open"].items():
            click.echo(f"  {kind}: {reason}")
        survey = e["survey"]
        if survey is not None:
            click.echo(
                f"  survey: answered {survey['submitted_at'][:10]} "
                f"(satisfaction {survey['satisfaction']})"
            )
        elif e["survey_open"]:
            click.echo("  survey: open")
        else:
            click.echo(f"  survey: {e['survey_not_open']}")


@assessments_group.command("survey")
@_program_option
@_org_option
@_as_option
@click.option(
    "--satisfaction", type=int, required=True, help="1 (very unsatisfied) to 5 (very satisfied)."
)
@click.option(
    "--relationship/--no-relationship", default=None, help="Did a working relationship form?"
)
@click.option(
    "--continue/--no-continue", "would_continue", default=None, help="Would you continue?"
)
@click.option("--again/--no-again", default=None, help="Would you do it again?")
@click.option("--comment", help="Optional comment (at most 4000 characters; private).")
@_role_option
@with_appcontext
@handle_errors
def assessments_survey(
    program_id: int,
    org_slug: str | None,
    person_id: int,
    satisfaction: int,
    relationship: bool | None,
    would_continue: bool | None,
    again: bool | None,
    comment: str | None,
    role: str | None,
) -> None:
    """Answer the end-of-program survey for a participant (once)."""
    for value, name in (
        (relationship, "relationship"),
        (would_continue, "continue"),
        (again, "again"),
    ):
        if value is None:
            raise click.UsageError(f"say --{name} or --no-{name}")
    program = program_in(program_id, org_slug)
    actor = as_participant(program.org_id, person_id)
    answer = assessments.submit_survey(
        get_session(),
        actor,
        program.id,
        satisfaction=satisfaction,
        relationship_formed=bool(relationship),
        would_continue=bool(would_continue),
        would_do_again=bool(again),
        comment=comment,
        role=role,
    )
    commit()
    click.echo(f"survey {answer.id} recorded for person {person_id} in program {program.id}")


# --------------------------------------------------------------------------- completions


@click.group("completions")
def completions_group() -> None:
    """Completions by the program's rule, with write-back."""


_coordinator_option = click.option(
    "--coordinator",
    "coordinator_id",
    type=int,
    help="Act as this coordinator (person id); default: the operator as admin.",
)


@completions_group.command("evaluate")
@_program_option
@_org_option
@_coordinator_option
@with_appcontext
@handle_errors
def completions_evaluate(program_id: int, org_slug: str | None, coordinator_id: int | None) -> None:
    """Record every completion the program's rule now grants, with its write-back messages."""
    program = program_in(program_id, org_slug)
    actor = as_coordinator(program.org_id, coordinator_id)
    counts = completions.evaluate_program(get_session(), actor, program.id, progress=Progress())
    commit()
    click.echo(
        f"program {program.id}: {counts['evaluated']} enrollments evaluated · "
        f"{counts['completed_now']} completed now · {counts['already_completed']} already "
        f"completed · {counts['not_met']} not met · {counts['withdrawn']} withdrawn (skipped) · "
        f"{counts['messages_written']} write-back messages"
    )


@completions_group.command("list")
@_program_option
@_org_option
@_coordinator_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def completions_list(
    program_id: int, org_slug: str | None, coordinator_id: int | None, as_json: bool
) -> None:
    """List a program's completions (coordinators; audited)."""
    session = get_session()
    program = program_in(program_id, org_slug)
    actor = as_coordinator(program.org_id, coordinator_id)
    rows = completions.list_completions(session, actor, program.id)
    people: dict[int, tuple[Enrollment, Person]] = {}
    ids = [c.enrollment_id for c in rows]
    if ids:
        stmt = (
            select(Enrollment, Person)
            .join(Person, Person.id == Enrollment.person_id)
            .where(Enrollment.id.in_(ids))
        )
        people = {e.id: (e, p) for e, p in session.execute(stmt).unique()}
    commit()
    data: list[dict[str, Any]] = [
        {
            "id": c.id,
            "enrollment_id": c.enrollment_id,
            "person_id": people[c.enrollment_id][1].id,
            "name": people[c.enrollment_id][1].full_name,
            "role": people[c.enrollment_id][0].role.value,
            "completed_at": c.completed_at.isoformat(),
            "sessions_held": c.sessions_held,
            "minutes": c.minutes,
            "hours": round(c.minutes / 60, 2),
        }
        for c in rows
    ]
    if as_json:
        echo_json(data)
        return
    if not data:
        click.echo(f"no completions in program {program.id} yet")
    for row in data:
        click.echo(
            f"{row['id']}\t{row['completed_at'][:10]}\t{row['name']}\t{row['role']}\t"
            f"{row['sessions_held']} sessions\t{row['hours']:g} h"
        )


@completions_group.command("status")
@_program_option
@_org_option
@_as_option
@_role_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def completions_status(
    program_id: int, org_slug: str | None, person_id: int, role: str | None, as_json: bool
) -> None:
    """Show a participant's own standing against the completion rule."""
    program = program_in(program_id, org_slug)
    actor = as_participant(program.org_id, person_id)
    status = completions.my_completion(get_session(), actor, program.id, role=role)
    if as_json:
        echo_json(status.as_dict())
        return
    click.echo(
        f"person {person_id} ({status.role}) in program {program.id}: "
        f"{'completed' if status.completion else 'met' if status.met else 'not completed yet'}"
    )
    for line in _status_lines(status):
        click.echo(f"  {line}")
