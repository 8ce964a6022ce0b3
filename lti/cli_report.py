"""``tandem report``: the program report on Kirkpatrick's levels.

JSON gives the whole report (figures, skill names, the retention note, the English and
German definitions of every metric); CSV gives one row per figure
(``level, metric, role, skill, value, n, suppressed``). Figures over fewer than five
people are suppressed in both. Generating a report is audited (``report.generated``).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

import click
from flask.cli import with_appcontext

from lti.cli import handle_errors
from lti.cli_common import as_coordinator, program_in
from lti.db import commit, get_session
from plugin.services import report

__all__ = ["report_command"]


def _csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(report.CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in report.report_rows(data):
        writer.writerow(
            {
                **row,
                "role": row["role"] or "",
                "skill": row["skill"] or "",
                "value": "" if row["value"] is None else row["value"],
                "suppressed": "true" if row["suppressed"] else "false",
            }
        )
    return out.getvalue()


@click.command("report")
@click.option("--program", "program_id", type=int, required=True, help="Program id.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="json: the whole report; csv: one row per figure.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Day retention is measured on (YYYY-MM-DD; default: today, UTC).",
)
@click.option(
    "--coordinator",
    "coordinator_id",
    type=int,
    help="Act as this coordinator (person id); default: the operator as admin.",
)
@click.option("--org", "org_slug", help="Organization slug (checks the program belongs to it).")
@with_appcontext
@handle_errors
def report_command(
    program_id: int,
    fmt: str,
    output: str | None,
    as_of: datetime | None,
    coordinator_id: int | None,
    org_slug: str | None,
) -> None:
    """Print a program's report on Kirkpatrick's levels and its process figures.

    Reaction, learning, behaviour, results (retention) and process; figures over fewer
    than 5 people are suppressed.
    """
    session = get_session()
    program = program_in(program_id, org_slug)
    day: date | None = None if as_of is None else as_of.date()
    data = report.build_report(
        session, as_coordinator(program.org_id, coordinator_id), program.id, as_of=day
    )
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else _csv(data)
    if output:
        try:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            session.rollback()
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    else:
        click.echo(text, nl=False)
    commit()
    if output:
        click.echo(f"report of program {program.id} written to {output} ({fmt})")
