"""``tandem match …``: run the solver, review proposals, and solve JSON instances offline."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lti.cli import Progress, actor, handle_errors
from lti.cli_common import find, program_in
from lti.db import commit, get_session
from plugin.matching.errors import MatchInputError
from plugin.matching.instance import parse_instance_text, render_result, solve_instance
from plugin.models import MatchRun, Person, Tandem
from plugin.services import matching

__all__ = ["match_group"]


def _names(person_ids: list[int]) -> dict[int, str]:
    if not person_ids:
        return {}
    rows = get_session().scalars(select(Person).where(Person.id.in_(person_ids)))
    return {p.id: p.full_name for p in rows}


@click.group("match")
def match_group() -> None:
    """Match juniors (mentors) with seniors (mentees), exactly and explainably."""


@match_group.command("run")
@click.option("--program", "program_id", type=int, required=True, help="Program id.")
@click.option("--org", "org_slug", help="Organization slug (checks the program belongs to it).")
@click.option("--objective", type=click.Choice(["best_total", "most_matched"]))
@click.option("--dry-run", is_flag=True, help="Solve and report, store nothing.")
@with_appcontext
@handle_errors
def match_run(program_id: int, org_slug: str | None, objective: str | None, dry_run: bool) -> None:
    """Run matching for a program and store the proposals (or just report with --dry-run)."""
    program = program_in(program_id, org_slug)
    outcome = matching.run_matching(
        get_session(),
        program,
        actor=actor(),
        objective=objective,
        dry_run=dry_run,
        progress=Progress(),
    )
    result = outcome.result
    if dry_run:
        get_session().rollback()
    else:
        commit()
    stats = result.stats
    head = "Dry run (nothing stored)" if outcome.run is None else f"Match run {outcome.run.id}"
    click.echo(
        f"{head} for program {program.id} {program.name!r} ({result.format}, {result.objective})"
    )
    click.echo(
        f"  mentors {stats.mentors} · mentees {stats.mentees} · kept tandems {len(outcome.kept)}"
    )
    removed = ", ".join(f"{k} {v}" for k, v in sorted(stats.removed_by_rule.items()) if v)
    click.echo(
        f"  pairs considered {stats.pairs_considered:,} · feasible {stats.feasible_pairs:,}"
        + (f" (removed: {removed})" if removed else "")
    )
    new = len(result.tandems) - sum(1 for t in result.tandems if t.locked)
    gap = "" if result.optimal or result.gap is None else f" (gap ≤ {result.gap:.6g})"
    click.echo(
        f"  tandems {len(result.tandems)} ({new} new) · mentees matched {result.matched_mentees}"
        f" · total score {result.total_score:.4f} · optimal {'yes' if result.optimal else 'no'}"
        f"{gap} · {sum(result.timings.values()):.2f} s"
    )
    reasons = Counter(f"{u.role} {u.reason.value}" for u in result.unmatched)
    if reasons:
        click.echo("  unmatched: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    for b in result.broken_locks:
        for v in b.violations:
            click.echo(f"  ! kept tandem breaks a rule: {v.explanation.get('en', v.rule.value)}")
    if outcome.run is not None:
        click.echo(f"  review: tandem match show {outcome.run.id}")


@match_group.command("show")
@click.argument("run_id", type=int)
@click.option("--lang", type=click.Choice(["en", "de"]), default="en", show_default=True)
@with_appcontext
@handle_errors
def match_show(run_id: int, lang: str) -> None:
    """Show a run's proposed tandems with their reasons, and everyone left unmatched."""
    session = get_session()
    run = find(MatchRun, run_id, "match run")
    tandems = matching.run_tandems(session, run)
    unmatched = run.result.get("unmatched", [])
    names = _names(
        [m.person_id for t in tandems for m in t.members] + [u["person_id"] for u in unmatched]
    )
    click.echo(
        f"Match run {run.id} · program {run.program_id} · {run.status.value} · "
        f"{run.objective} · score {run.objective_value or 0:.4f} · "
        f"optimal {'yes' if run.optimal else 'no'} · {run.duration_ms} ms · by {run.started_by}"
    )
    for t in tandems:
        juniors = ", ".join(names.get(m.person_id, "?") for m in t.members if m.role == "mentor")
        seniors = ", ".join(names.get(m.person_id, "?") for m in t.members if m.role == "mentee")
        state = t.status.value + (" · approved" if t.approved_at else "")
        state += " · locked" if t.locked else ""
        click.echo(f"\n[{t.id}] {juniors} → {seniors}  score {t.score or 0:.3f}  ({state})")
        for line in t.explanation.get(lang, []):
            click.echo(f"    - {line}")
        for broken in t.flags.get("broken_rules", []):
            click.echo(f"    ! {broken.get(lang, broken['rule'])}")
    if unmatched:
        click.echo("\nUnmatched:")
        for u in unmatched:
            text = u["explanation"].get(lang, u["reason"])
            click.echo(f"  {names.get(u['person_id'], u['person_id'])} ({u['role']}): {text}")


@match_group.command("runs")
@click.option("--program", "program_id", type=int, required=True)
@click.option("--org", "org_slug")
@with_appcontext
@handle_errors
def match_runs(program_id: int, org_slug: str | None) -> None:
    """List a program's match runs."""
    program = program_in(program_id, org_slug)
    for run in matching.list_runs(get_session(), program=program):
        click.echo(
            f"{run.id}\t{run.created_at:%Y-%m-%d %H:%M}\t{run.status.value}\t{run.objective}\t"
            f"{run.objective_value or 0:.4f}\t{run.result.get('matched_mentees', 0)} matched"
        )


def _tandem_action(name: str, help_text: str) -> None:
    @match_group.command(name, help=help_text)
    @click.argument("tandem_id", type=int)
    @with_appcontext
    @handle_errors
    def command(tandem_id: int) -> None:
        session = get_session()
        tandem = find(Tandem, tandem_id, "tandem")
        if name == "accept":
            matching.accept_tandem(session, tandem, actor=actor())
        elif name == "reject":
            matching.reject_tandem(session, tandem, actor=actor())
        else:
            matching.set_lock(session, tandem, locked=name == "lock", actor=actor())
        commit()
        click.echo(f"tandem {tandem.id}: {name} done ({tandem.status.value})")


_tandem_action("accept", "Approve a proposed tandem (its members are then asked to consent).")
_tandem_action("reject", "Reject a proposed tandem; its members are free for the next run.")
_tandem_action("lock", "Lock a tandem so that re-runs keep it.")
_tandem_action("unlock", "Unlock a tandem.")


@match_group.command("approve")
@click.argument("run_id", type=int)
@with_appcontext
@handle_errors
def match_approve(run_id: int) -> None:
    """Approve (publish) every proposed tandem of a run."""
    session = get_session()
    run = find(MatchRun, run_id, "match run")
    matching.approve_run(session, run, actor=actor())
    commit()
    click.echo(f"match run {run.id} approved")


@match_group.command("swap")
@click.argument("first", type=int)
@click.argument("second", type=int)
@click.option("--role", type=click.Choice(["mentee", "mentor"]), default="mentee")
@with_appcontext
@handle_errors
def match_swap(first: int, second: int, role: str) -> None:
    """Swap the mentees (or mentors) of two proposed tandems; hard rules are re-checked."""
    a, b = matching.swap_tandems(
        get_session(),
        find(Tandem, first, "tandem"),
        find(Tandem, second, "tandem"),
        actor=actor(),
        role=role,
    )
    commit()
    click.echo(f"swapped: tandem {a.id} score {a.score:.3f}, tandem {b.id} score {b.score:.3f}")


@match_group.command("solve")
@click.option("--input", "input_path", type=click.Path(dir_okay=False), required=True)
@click.option("--output", "output_path", type=click.Path(dir_okay=False), required=True)
def match_solve(input_path: str, output_path: str) -> None:
    """Solve a JSON instance (no database): only listed pairs are feasible.

    Input: {"mentors":[{"id","capacity"}], "mentees":[{"id"}],
    "pairs":[{"mentor","mentee","score"}], "objective":"best_total"|"most_matched"}.
    """
    try:
        with open(input_path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {input_path}: {exc.strerror}") from None
    try:
        instance = parse_instance_text(text)
        result = render_result(solve_instance(instance))
    except MatchInputError as exc:
        raise click.ClickException(f"invalid instance {input_path}: {exc}") from None
    # Write atomically: a failure never leaves a partial output file behind.
    directory = os.path.dirname(os.path.abspath(output_path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tandem-", suffix=".json")
    except OSError as exc:
        raise click.ClickException(f"cannot write {output_path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(result, out, indent=2)
        out.write("\n")
    os.replace(tmp, output_path)
    matched = len(result["matched"])
    click.echo(
        f"{result['objective']}: {matched} matched, {len(result['unmatched_mentees'])} mentees "
        f"unmatched, total score {result['total_score']:.6g}, "
        f"optimal {'yes' if result['optimal'] else 'no'} → {output_path}",
        err=True,
    )
