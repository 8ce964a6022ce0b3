"""The ``tandem`` command: a Flask CLI group over the core services.

Every command opens one session, calls services, and commits once at the end. A
:class:`plugin.errors.PluginError` becomes ``Error: <message>`` on stderr with exit
code 1 and nothing written.
"""

from __future__ import annotations

import csv
import functools
import getpass
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from lti import migrate
from lti.db import commit, get_session
from plugin.errors import PluginError
from plugin.models import Program
from plugin.services import organizations, people, programs

__all__ = ["init_app", "main"]

F = TypeVar("F", bound=Callable[..., Any])


def actor() -> str:
    """Who runs this command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def handle_errors(fn: F) -> F:
    """Turn domain errors into a clear message and exit code 1; nothing is committed."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PluginError as exc:
            get_session().rollback()
            field = f" ({exc.field})" if exc.field else ""
            raise click.ClickException(f"{exc.message}{field}") from None

    return wrapper  # type: ignore[return-value]


class Progress:
    """A progress indicator on stderr: in place on a terminal, a line per 10 % otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        """Write to ``stream`` (stderr by default)."""
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last: tuple[str, int] = ("", -1)
        self._start = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report that ``done`` of ``total`` items of ``stage`` are finished."""
        pct = 100 if total <= 0 else min(100, int(done * 100 / total))
        if self.tty:
            end = "\n" if done >= total else ""
            self.stream.write(f"\r{stage:<24} {done:>8}/{total:<8} {pct:3d}%{end}")
            self.stream.flush()
            return
        step = pct // 10
        if (stage, step) != self._last:
            self._last = (stage, step)
            elapsed = time.monotonic() - self._start
            self.stream.write(f"{stage}: {done}/{total} ({pct}%) {elapsed:.1f}s\n")


def _org(slug: str) -> Any:
    return organizations.get_organization(get_session(), slug)


# --------------------------------------------------------------------------- db


@click.group("db")
def db_group() -> None:
    """Migrate the database (SQLite file by default, PostgreSQL with DATABASE_URL)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    migrate.upgrade(current_app, revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision", default="-1")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (default: one step back; 'base' removes all)."""
    migrate.downgrade(current_app, revision)
    click.echo(f"database downgraded to {revision}")


# --------------------------------------------------------------------------- serve


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--worker/--no-worker",
    default=None,
    help="Deliver write-back messages in a background thread [WORKER_IN_PROCESS: on].",
)
@with_appcontext
def serve(host: str, port: int, worker: bool | None) -> None:
    """Serve Tandem with the built-in server (use gunicorn in production).

    The outbox worker runs in-process unless --no-worker (or TANDEM_WORKER_IN_PROCESS=false);
    in production run `tandem worker` processes instead.
    """
    from werkzeug.serving import run_simple

    from lti.cli_outbox import start_background_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    in_process = bool(app.config.get("WORKER_IN_PROCESS")) if worker is None else worker
    stop, thread = start_background_worker(app) if in_process else (None, None)
    click.echo(
        f"Tandem on http://{host}:{port}/ (Ctrl+C to stop)"
        + ("; write-back worker running in-process" if in_process else "")
    )
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if stop is not None and thread is not None:
            stop.set()
            thread.join(timeout=30)


# --------------------------------------------------------------------------- orgs


@click.group("orgs")
def orgs_group() -> None:
    """Organizations (tenants)."""


@orgs_group.command("list")
@with_appcontext
def orgs_list() -> None:
    """List organizations."""
    rows = organizations.list_organizations(get_session())
    if not rows:
        click.echo("no organizations yet: tandem orgs create SLUG --name NAME")
    for org in rows:
        click.echo(f"{org.slug}\t{org.name}")


@orgs_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name.")
@with_appcontext
@handle_errors
def orgs_create(slug: str, name: str) -> None:
    """Create organization SLUG."""
    org = organizations.create_organization(get_session(), slug=slug, name=name, actor=actor())
    commit()
    click.echo(f"created organization {org.slug} ({org.name})")


@orgs_group.command("link-rule")
@click.argument("slug")
@click.argument("rule", type=click.Choice(organizations.LINK_RULES))
@with_appcontext
@handle_errors
def orgs_link_rule(slug: str, rule: str) -> None:
    """How LMS users of organization SLUG are linked to HR people: RULE is email or sourcedid.

    sourcedid matches lis.person_sourcedid (Moodle: the user's "ID number") with the
    person's HRIS employee id; email matches e-mail addresses.
    """
    org = organizations.set_identity_link_rule(
        get_session(), org=_org(slug), rule=rule, actor=actor()
    )
    commit()
    click.echo(f"{org.slug}: LMS users are linked to people by {org.identity_link_rule}")


# --------------------------------------------------------------------------- programs


def _json_option(value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{what} is not valid JSON: {exc.msg} at {exc.pos}") from None


def _program_dict(p: Program) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "format": p.format.value,
        "status": p.status.value,
        "starts_on": p.starts_on.isoformat(),
        "ends_on": p.ends_on.isoformat(),
        "cadence_days": p.cadence_days,
        "min_session_minutes": p.min_session_minutes,
        "target_sessions": p.target_sessions,
        "theme_plan": p.theme_plan,
        "matching_settings": p.matching_settings,
        "completion_rule": p.completion_rule,
        "confidentiality_version": p.confidentiality_version,
        "require_senior_consent": p.require_senior_consent,
    }


@click.group("programs")
def programs_group() -> None:
    """Reverse-mentoring programs."""


@programs_group.command("list")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@with_appcontext
@handle_errors
def programs_list(org_slug: str) -> None:
    """List an organization's programs."""
    org = _org(org_slug)
    rows = programs.list_programs(get_session(), org_id=org.id)
    if not rows:
        click.echo(f"no programs in {org_slug} yet")
    for p in rows:
        click.echo(
            f"{p.id}\t{p.name}\t{p.format.value}\t{p.status.value}\t{p.starts_on} → {p.ends_on}"
        )


@programs_group.command("create")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--name", required=True)
@click.option(
    "--format",
    "fmt",
    default="one_to_one",
    show_default=True,
    type=click.Choice(["one_to_one", "group", "bidirectional", "project"]),
)
@click.option("--starts", type=click.DateTime(["%Y-%m-%d"]), required=True, help="YYYY-MM-DD")
@click.option("--ends", type=click.DateTime(["%Y-%m-%d"]), required=True, help="YYYY-MM-DD")
@click.option("--cadence-days", default=30, show_default=True, type=int)
@click.option("--min-minutes", default=30, show_default=True, type=int)
@click.option("--target-sessions", default=6, show_default=True, type=int)
@click.option("--themes", help="Monthly themes, comma-separated, month 1 first.")
@click.option("--matching", help="Matching settings as JSON (weights, rules, objective).")
@click.option("--completion", help="Completion rule as JSON.")
@click.option("--confidentiality-file", type=click.File("r", encoding="utf-8"))
@click.option("--description", default="")
@click.option("--open", "open_", is_flag=True, help="Open for enrollment right away.")
@with_appcontext
@handle_errors
def programs_create(
    org_slug: str,
    name: str,
    fmt: str,
    starts: Any,
    ends: Any,
    cadence_days: int,
    min_minutes: int,
    target_sessions: int,
    themes: str | None,
    matching: str | None,
    completion: str | None,
    confidentiality_file: TextIO | None,
    description: str,
    open_: bool,
) -> None:
    """Create a program (status draft, or enrolling with --open)."""
    plan = None
    if themes is not None:
        names = [t.strip() for t in themes.split(",")]
        plan = [{"month": i + 1, "theme": t} for i, t in enumerate(names)]
    session = get_session()
    org = _org(org_slug)
    program = programs.create_program(
        session,
        org=org,
        name=name,
        format=fmt,
        starts_on=starts.date(),
        ends_on=ends.date(),
        cadence_days=cadence_days,
        min_session_minutes=min_minutes,
        target_sessions=target_sessions,
        theme_plan=plan,
        matching_settings=_json_option(matching, "--matching"),
        completion_rule=_json_option(completion, "--completion"),
        confidentiality_text=confidentiality_file.read() if confidentiality_file else "",
        description=description,
        actor=actor(),
    )
    if open_:
        programs.set_program_status(session, program, "enrolling", actor=actor())
    commit()
    click.echo(f"created program {program.id}: {program.name} ({program.status.value})")


@programs_group.command("show")
@click.argument("program_id", type=int)
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def programs_show(program_id: int, org_slug: str, as_json: bool) -> None:
    """Show one program."""
    org = _org(org_slug)
    data = _program_dict(programs.get_program(get_session(), org_id=org.id, program_id=program_id))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for key, value in data.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        click.echo(f"{key:<24}{value}")


@programs_group.command("status")
@click.argument("program_id", type=int)
@click.argument(
    "status", type=click.Choice(["draft", "enrolling", "matching", "running", "closed"])
)
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@with_appcontext
@handle_errors
def programs_status(program_id: int, status: str, org_slug: str) -> None:
    """Move a program to STATUS (draft → enrolling ⇄ matching → running → closed)."""
    session = get_session()
    org = _org(org_slug)
    program = programs.get_program(session, org_id=org.id, program_id=program_id)
    programs.set_program_status(
        session, program, status, actor=actor(), today=datetime.now(UTC).date()
    )
    commit()
    click.echo(f"program {program.id} is now {program.status.value}")


# --------------------------------------------------------------------------- demo


@click.group("demo")
def demo_group() -> None:
    """Demo data."""


@demo_group.command("seed")
@click.option("--org", "org_slug", default="demo", show_default=True)
@click.option("--people", "count", default=2000, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--if-empty", is_flag=True, help="Do nothing (exit 0) if the org has people.")
@with_appcontext
@handle_errors
def demo_seed(org_slug: str, count: int, seed: int, if_empty: bool) -> None:
    """Build a believable demo company with one reverse-mentoring program."""
    from plugin import demo

    session = get_session()
    existing = organizations.find_organization(session, org_slug)
    if if_empty and existing is not None and people.count_people(session, org_id=existing.id):
        click.echo(f"organization {org_slug} already has people; not seeding")
        return
    summary = demo.seed_demo(
        session, org_slug=org_slug, people=count, seed=seed, progress=Progress()
    )
    commit()
    click.echo(
        f"seeded {org_slug}: {summary.people} people, {summary.skills} skills, "
        f"program {summary.program_id} with {summary.mentors} mentors and "
        f"{summary.mentees} mentees"
    )


@demo_group.command("simulate")
@click.option("--program", "program_id", required=True, type=int, help="Program id.")
@click.option("--org", "org_slug", help="Organization slug (default: the program's).")
@click.option("--months", default=6, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
@with_appcontext
@handle_errors
def demo_simulate(program_id: int, org_slug: str | None, months: int, seed: int) -> None:
    """Play an enrolled program forward: matching, sessions, feedback, assessments, alerts.

    Uses only the public services; when the months cover the whole program it is closed
    and completions are evaluated (write-back messages go to the outbox).
    """
    from lti.cli_common import program_in
    from plugin.simulate import simulate_program

    session = get_session()
    summary = simulate_program(
        session,
        org_id=program_in(program_id, org_slug).org_id,
        program_id=program_id,
        months=months,
        seed=seed,
        progress=Progress(),
    )
    commit()

    def fmt(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"

    click.echo(f"simulated program {program_id} for {months} months (seed {seed})")
    click.echo(f"  personas:    {fmt(summary.personas)}")
    click.echo(f"  tandems:     {fmt(summary.tandems)}")
    click.echo(f"  sessions:    {fmt(summary.sessions)}")
    click.echo(
        f"  feedback {summary.feedback}, goals {summary.goals} ({summary.goals_met} met), "
        f"actions {summary.actions}"
    )
    click.echo(
        f"  assessments {summary.assessments}, surveys {summary.surveys}, "
        f"completions {summary.completions}, outbox messages {summary.outbox_messages}"
    )
    click.echo(f"  alerts:      {fmt(summary.alerts)}; departures {summary.departures}")
    if summary.closed:
        click.echo(f"  program closed; see: tandem report --program {program_id}")


# --------------------------------------------------------------------------- people


@click.group("people")
def people_group() -> None:
    """People synced or seeded into an organization."""


@people_group.command("export")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File (default stdout)."
)
@with_appcontext
@handle_errors
def people_export(org_slug: str, fmt: str, output: str | None) -> None:
    """Export one row per person (csv: identities as a JSON list in one column)."""
    org = _org(org_slug)
    rows = people.iter_export_rows(get_session(), org_id=org.id)
    stream: TextIO
    with click.open_file(output or "-", "w", encoding="utf-8", lazy=False) as stream:
        if fmt == "jsonl":
            for row in rows:
                stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        writer = csv.DictWriter(stream, fieldnames=list(people.EXPORT_FIELDS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            row["identities"] = json.dumps(row["identities"], ensure_ascii=False)
            row["manager_id"] = "" if row["manager_id"] is None else row["manager_id"]
            row["email"] = row["email"] or ""
            row["active"] = "true" if row["active"] else "false"
            writer.writerow(row)


# --------------------------------------------------------------------------- wiring

COMMANDS = (db_group, serve, orgs_group, programs_group, demo_group, people_group)


def init_app(app: Flask) -> None:
    """Register every command on the app's CLI group."""
    from lti import cli_assess, cli_connections, cli_outbox, cli_report, cli_sessions, cli_tandems
    from lti.cli_lti import lti_group
    from lti.cli_match import match_group

    tracking = (
        cli_tandems.tandems_group,
        cli_tandems.coordinators_group,
        cli_sessions.sessions_group,
        cli_sessions.alerts_group,
        cli_assess.assessments_group,
        cli_assess.completions_group,
        cli_outbox.outbox_group,
        cli_outbox.targets_group,
        cli_outbox.worker_command,
        cli_report.report_command,
    )
    hris = (cli_connections.connections_group, cli_connections.sync_group)
    demo_group.add_command(cli_connections.demo_hris_command)
    for command in (*COMMANDS, match_group, *tracking, *hris, lti_group):
        app.cli.add_command(command)


def _create_app(*_args: Any) -> Flask:
    from lti import create_app

    return create_app()


def main() -> None:
    """Entry point of the ``tandem`` console script."""
    group = FlaskGroup(
        create_app=_create_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="Tandem: reverse-mentoring programs inside your LMS and HRIS.",
    )
    group.main(prog_name="tandem")
