"""``tandem tandems …`` and ``tandem coordinators …``.

Participant actions name the person they are done for (``--as PERSON_ID``); coordinator
actions run as the operator (organization admin) unless ``--coordinator PERSON_ID`` names
a coordinator whose rights are then checked. The organization always comes from the
tandem, goal or program row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import click
from flask.cli import with_appcontext

from lti.cli import actor as operator
from lti.cli import handle_errors
from lti.cli_common import as_coordinator, as_participant, echo_json, find, program_in
from lti.db import commit, get_session
from plugin.access import Actor
from plugin.db import utcnow
from plugin.models import Goal, Tandem
from plugin.services import coordinators, tandems

__all__ = ["coordinators_group", "tandems_group"]

_DAY = click.DateTime(formats=["%Y-%m-%d"])
_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- lookups


def _who(org_id: int, as_person: int | None, coordinator: int | None) -> Actor:
    """A participant (``--as``), a named coordinator, or the operator as admin."""
    if as_person is not None and coordinator is not None:
        raise click.ClickException("choose either --as or --coordinator, not both")
    if as_person is not None:
        return as_participant(org_id, as_person)
    return as_coordinator(org_id, coordinator)


def _day(value: datetime | None) -> date | None:
    return None if value is None else value.date()


def _state(tandem: Tandem) -> str:
    return f"tandem {tandem.id} is {tandem.status.value}"


def _as_option(required: bool = False) -> Callable[[_F], _F]:
    return click.option(
        "--as",
        "as_person",
        type=int,
        required=required,
        help="Act as this participant (person id).",
    )


_coordinator_option = click.option(
    "--coordinator",
    "coordinator",
    type=int,
    help="Act as this coordinator (person id); default: the operator as admin.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


# --------------------------------------------------------------------------- rendering


def _member_line(m: dict[str, Any]) -> str:
    side = "junior" if m["role"] == "mentor" else "senior"
    if m["accepted"]:
        consent = "consented"
    elif m["declined"]:
        consent = "declined"
    elif m["consent_required"]:
        consent = "consent pending"
    else:
        consent = "consent not required"
    agreement = "agreement accepted" if m["confidentiality_accepted"] else "agreement pending"
    who = f"{m['name']} (person {m['person_id']}, {m['role']} = {side})"
    gone = " · withdrew from the program" if m.get("withdrawn") else ""
    return f"  {who} · {consent} · {agreement}{gone}"


def _render(view: dict[str, Any]) -> None:
    program = view["program"]
    click.echo(
        f"Tandem {view['id']} · {view['status']}"
        + ("" if view["approved"] or view["status"] != "proposed" else " (not yet approved)")
        + f" · program {program['id']} {program['name']!r} ({program['format']}, "
        f"{program['status']})"
    )
    for m in view["members"]:
        click.echo(_member_line(m))
    dates = [f"since {view['status_changed_at'][:10]}"]
    if view["activated_at"]:
        dates.append(f"activated {view['activated_at'][:10]}")
    if view["ended_at"]:
        dates.append(f"ended {view['ended_at'][:10]}")
    if view["no_fault"]:
        dates.append("no-fault closure")
    click.echo("  " + " · ".join(dates))
    if view["waiting_for"]:
        click.echo("  waiting for: " + ", ".join(view["waiting_for"]))
    if "you" in view:
        kickoff = view["kickoff"]
        if kickoff:
            click.echo(f"  kick-off ({kickoff['meeting_mode']}): {kickoff['expectations']}")
        else:
            click.echo("  kick-off: not recorded yet")
        click.echo(f"  goals ({len(view['goals'])}):")
        for g in view["goals"]:
            due = f" (due {g['due_on']})" if g["due_on"] else ""
            click.echo(f"    [{g['id']}] {g['status']:<11} {g['title']}{due}")
        click.echo(f"  actions ({len(view['actions'])}):")
        names = {m["person_id"]: m["name"] for m in view["members"]}
        for a in view["actions"]:
            credit = names.get(a["credited_mentor_id"], f"person {a['credited_mentor_id']}")
            click.echo(f"    {a['taken_on']} {a['description']} (credited to {credit})")
        agreement = view["confidentiality"]
        state = "accepted" if agreement["accepted"] else "not accepted yet"
        click.echo(f"  confidentiality agreement v{agreement['version']}: {state}")
        click.echo("  next for you: " + (", ".join(view["next"]) or "nothing"))
        return
    goals = ", ".join(f"{k} {v}" for k, v in view["goals_by_status"].items())
    click.echo(f"  kick-off recorded: {'yes' if view['kickoff']['recorded'] else 'no'}")
    click.echo(f"  goals: {goals} · actions: {view['actions']}")
    if view["dissolved_reason"]:
        click.echo(f"  dissolved by {view['dissolved_by']}: {view['dissolved_reason']}")
    for broken in view["flags"].get("broken_rules", []):
        click.echo(f"  ! {broken.get('en', broken.get('rule'))}")


# --------------------------------------------------------------------------- tandems


@click.group("tandems")
def tandems_group() -> None:
    """Tandems: consent, kick-off, goals, actions, completion, dissolution."""


@tandems_group.command("list")
@click.option("--program", "program_id", type=int, required=True, help="Program id.")
@_as_option()
@_coordinator_option
@_json_option
@with_appcontext
@handle_errors
def tandems_list(
    program_id: int, as_person: int | None, coordinator: int | None, as_json: bool
) -> None:
    """A program's tandems (coordinators), or a participant's own (--as)."""
    session = get_session()
    program = program_in(program_id)
    who = _who(program.org_id, as_person, coordinator)
    if as_person is not None:
        mine = tandems.my_tandems(session, who, program_id=program.id)
        views = [tandems.tandem_view(session, who, t.id) for t in mine]
        commit()
        if as_json:
            echo_json(views)
            return
        if not views:
            click.echo(f"person {as_person} has no tandem in program {program.id}")
        for v in views:
            partners = ", ".join(
                f"{m['name']} ({m['role']})" for m in v["members"] if m["person_id"] != as_person
            )
            todo = ", ".join(v["next"]) or "-"
            click.echo(f"{v['id']}\t{v['status']}\twith {partners or '-'}\tnext: {todo}")
        return
    rows = tandems.program_tandems(session, who, program.id)
    commit()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"program {program.id} has no tandems yet")
    for r in rows:
        juniors = ", ".join(m["name"] for m in r["members"] if m["role"] == "mentor")
        seniors = ", ".join(m["name"] for m in r["members"] if m["role"] == "mentee")
        goals = r["goals_by_status"]
        extra = " · no fault" if r["no_fault"] else ""
        extra += " · FLAGGED" if r["flagged"] else ""
        click.echo(
            f"{r['id']}\t{r['status']:<9}\t{juniors} → {seniors}\t"
            f"goals {goals['met']}/{sum(goals.values())} met · actions {r['actions']}{extra}"
        )


@tandems_group.command("show")
@click.argument("tandem_id", type=int)
@_as_option()
@_coordinator_option
@_json_option
@with_appcontext
@handle_errors
def tandems_show(
    tandem_id: int, as_person: int | None, coordinator: int | None, as_json: bool
) -> None:
    """Show one tandem as a member (--as) or a coordinator sees it."""
    who = _who(find(Tandem, tandem_id, "tandem").org_id, as_person, coordinator)
    view = tandems.tandem_view(get_session(), who, tandem_id)
    commit()  # a coordinator's reading is audited
    if as_json:
        echo_json(view)
    else:
        _render(view)


@tandems_group.command("respond")
@click.argument("tandem_id", type=int)
@_as_option(required=True)
@click.option("--accept/--decline", "accept", default=None, help="Consent, or decline.")
@click.option("--reason", help="Why you decline (required with --decline).")
@with_appcontext
@handle_errors
def tandems_respond(
    tandem_id: int, as_person: int, accept: bool | None, reason: str | None
) -> None:
    """A member consents to (--accept) or declines (--decline --reason) a proposal."""
    if accept is None:
        raise click.ClickException("say --accept or --decline")
    who = as_participant(find(Tandem, tandem_id, "tandem").org_id, as_person)
    tandem = tandems.respond(get_session(), who, tandem_id, accept=accept, reason=reason)
    commit()
    verb = "accepted" if accept else "declined"
    click.echo(f"person {as_person} {verb}; {_state(tandem)}")


@tandems_group.command("confidentiality")
@click.argument("tandem_id", type=int)
@_as_option(required=True)
@click.option("--version", help="The agreement version read (checked against the current one).")
@with_appcontext
@handle_errors
def tandems_confidentiality(tandem_id: int, as_person: int, version: str | None) -> None:
    """Show the program's confidentiality agreement and accept it for a member."""
    session = get_session()
    who = as_participant(find(Tandem, tandem_id, "tandem").org_id, as_person)
    agreement = tandems.tandem_view(session, who, tandem_id)["confidentiality"]
    click.echo(f"Confidentiality agreement, version {agreement['version']}:")
    click.echo(agreement["text"] or "(the program has no agreement text)")
    click.echo("")
    tandem = tandems.accept_confidentiality(session, who, tandem_id, version=version)
    commit()
    click.echo(f"person {as_person} accepted version {agreement['version']}; {_state(tandem)}")


@tandems_group.command("kickoff")
@click.argument("tandem_id", type=int)
@_as_option(required=True)
@click.option("--expectations", required=True, help="What both expect of the tandem.")
@click.option("--mode", "meeting_mode", required=True, help="in_person, video, phone or hybrid.")
@click.option("--goal", "goals", multiple=True, help="A first goal (repeat for more).")
@with_appcontext
@handle_errors
def tandems_kickoff(
    tandem_id: int, as_person: int, expectations: str, meeting_mode: str, goals: tuple[str, ...]
) -> None:
    """Record the kick-off: expectations, meeting mode and first goals."""
    who = as_participant(find(Tandem, tandem_id, "tandem").org_id, as_person)
    tandem = tandems.record_kickoff(
        get_session(),
        who,
        tandem_id,
        expectations=expectations,
        meeting_mode=meeting_mode,
        goals=list(goals),
    )
    commit()
    click.echo(f"kick-off recorded; {_state(tandem)}")


@tandems_group.command("activate")
@click.option("--program", "program_id", type=int, required=True, help="Program id.")
@with_appcontext
@handle_errors
def tandems_activate(program_id: int) -> None:
    """Activate every ready tandem of a running program (kick-off and agreements done)."""
    program = program_in(program_id)
    n = tandems.activate_ready(get_session(), program.id, actor=operator())
    commit()
    click.echo(f"{n} tandem(s) activated in program {program.id} ({program.status.value})")


@tandems_group.command("complete")
@click.argument("tandem_id", type=int)
@_as_option()
@_coordinator_option
@with_appcontext
@handle_errors
def tandems_complete(tandem_id: int, as_person: int | None, coordinator: int | None) -> None:
    """Complete an active tandem (a member, or a coordinator)."""
    who = _who(find(Tandem, tandem_id, "tandem").org_id, as_person, coordinator)
    tandem = tandems.complete_tandem(get_session(), who, tandem_id)
    commit()
    click.echo(f"{_state(tandem)}")


@tandems_group.command("dissolve")
@click.argument("tandem_id", type=int)
@click.option("--reason", required=True, help="Why (seen by coordinators, never by members).")
@click.option("--no-fault", is_flag=True, help="A no-fault closure.")
@_as_option()
@_coordinator_option
@with_appcontext
@handle_errors
def tandems_dissolve(
    tandem_id: int, reason: str, no_fault: bool, as_person: int | None, coordinator: int | None
) -> None:
    """Dissolve an accepted or active tandem (a member, or a coordinator)."""
    who = _who(find(Tandem, tandem_id, "tandem").org_id, as_person, coordinator)
    tandem = tandems.dissolve_tandem(
        get_session(), who, tandem_id, reason=reason, no_fault=no_fault
    )
    commit()
    click.echo(f"{_state(tandem)}" + (" (no fault)" if tandem.no_fault else ""))


@tandems_group.command("goal-add")
@click.argument("tandem_id", type=int)
@_as_option(required=True)
@click.option("--title", required=True, help="The goal.")
@click.option("--description", help="More detail.")
@click.option("--due", type=_DAY, help="Due date, YYYY-MM-DD.")
@with_appcontext
@handle_errors
def tandems_goal_add(
    tandem_id: int, as_person: int, title: str, description: str | None, due: datetime | None
) -> None:
    """Add a goal to a tandem."""
    who = as_participant(find(Tandem, tandem_id, "tandem").org_id, as_person)
    goal = tandems.add_goal(
        get_session(), who, tandem_id, title=title, description=description, due_on=_day(due)
    )
    commit()
    click.echo(f"goal {goal.id} added to tandem {tandem_id} ({goal.status.value})")


@tandems_group.command("goal-status")
@click.argument("goal_id", type=int)
@click.argument("status")
@_as_option(required=True)
@with_appcontext
@handle_errors
def tandems_goal_status(goal_id: int, status: str, as_person: int) -> None:
    """Set a goal's status: open, in_progress, met or dropped."""
    who = as_participant(find(Goal, goal_id, "goal").org_id, as_person)
    goal = tandems.set_goal_status(get_session(), who, goal_id, status=status)
    commit()
    click.echo(f"goal {goal.id} is {goal.status.value}")


@tandems_group.command("action")
@click.argument("tandem_id", type=int)
@_as_option(required=True)
@click.option("--description", required=True, help="What the senior changed.")
@click.option("--on", "taken_on", type=_DAY, help="When, YYYY-MM-DD (default: today).")
@click.option("--credit", type=int, help="The junior to credit (person id).")
@with_appcontext
@handle_errors
def tandems_action(
    tandem_id: int,
    as_person: int,
    description: str,
    taken_on: datetime | None,
    credit: int | None,
) -> None:
    """The senior logs what they changed, credited to the junior."""
    who = as_participant(find(Tandem, tandem_id, "tandem").org_id, as_person)
    action = tandems.log_action(
        get_session(),
        who,
        tandem_id,
        description=description,
        taken_on=_day(taken_on) or utcnow().date(),
        credited_mentor_id=credit,
    )
    commit()
    click.echo(
        f"action {action.id} logged on {action.taken_on.isoformat()}, credited to person "
        f"{action.credited_mentor_id}"
    )


# --------------------------------------------------------------------------- coordinators


@click.group("coordinators")
def coordinators_group() -> None:
    """Program coordinators."""


@coordinators_group.command("add")
@click.option("--program", "program_id", type=int, required=True, help="Program id.")
@click.argument("person_id", type=int)
@_coordinator_option
@with_appcontext
@handle_errors
def coordinators_add(program_id: int, person_id: int, coordinator: int | None) -> None:
    """Make a person a coordinator of a program."""
    program = program_in(program_id)
    who = as_coordinator(program.org_id, coordinator)
    coordinators.add_coordinator(get_session(), who, program, person_id=person_id)
    commit()
    click.echo(f"person {person_id} now coordinates program {program.id}")


@coordinators_group.command("list")
@click.option("--program", "program_id", type=int, required=True, help="Program id.")
@_coordinator_option
@_json_option
@with_appcontext
@handle_errors
def coordinators_list(program_id: int, coordinator: int | None, as_json: bool) -> None:
    """List a program's coordinators."""
    program = program_in(program_id)
    who = as_coordinator(program.org_id, coordinator)
    people = coordinators.list_coordinators(get_session(), who, program)
    if as_json:
        echo_json([{"person_id": p.id, "name": p.full_name, "email": p.email} for p in people])
        return
    if not people:
        click.echo(
            f"program {program.id} has no coordinators yet: "
            f"tandem coordinators add --program {program.id} PERSON_ID"
        )
    for p in people:
        click.echo(f"{p.id}\t{p.full_name}\t{p.email or ''}")


@coordinators_group.command("remove")
@click.option("--program", "program_id", type=int, required=True, help="Program id.")
@click.argument("person_id", type=int)
@_coordinator_option
@with_appcontext
@handle_errors
def coordinators_remove(program_id: int, person_id: int, coordinator: int | None) -> None:
    """Remove a coordinator from a program."""
    program = program_in(program_id)
    who = as_coordinator(program.org_id, coordinator)
    coordinators.remove_coordinator(get_session(), who, program, person_id=person_id)
    commit()
    click.echo(f"person {person_id} no longer coordinates program {program.id}")
