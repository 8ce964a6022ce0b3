"""``tandem worker``, ``tandem outbox …`` and ``tandem targets …``: write-back delivery.

``tandem worker`` delivers due outbox messages through the sinks of the registry
(:mod:`lti.sinks`); run one per host, or as many as needed: claims never overlap.
``tandem serve`` runs the same worker in a background thread (``WORKER_IN_PROCESS``).
The ``outbox`` commands are the operator's view of the messages (payloads included: they
act as organization admin); ``targets`` configures where an organization writes back.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.utils import ImportStringError, import_string

from lti.cli import actor, handle_errors
from lti.cli_common import echo_json
from lti.db import commit, get_engine, get_session
from lti.sinks import get_sinks
from plugin.access import Actor
from plugin.errors import NotFound
from plugin.models import OutboxMessage, OutboxStatus, WritebackTarget
from plugin.ports import TargetConfig
from plugin.services import organizations, outbox, writeback
from plugin.worker import Worker, WorkerStats

__all__ = [
    "build_worker",
    "outbox_group",
    "start_background_worker",
    "targets_group",
    "worker_command",
]

_STATUSES = [s.value for s in OutboxStatus]


# --------------------------------------------------------------------------- worker


def _housekeeping(app: Flask) -> Callable[[Session, datetime], int] | None:
    """The periodic job named by ``WORKER_HOUSEKEEPING``, called as ``fn(session, now=now)``."""
    dotted = app.config.get("WORKER_HOUSEKEEPING")
    if not dotted:
        return None
    try:
        job = import_string(str(dotted))
    except ImportStringError as exc:
        raise RuntimeError(
            f"WORKER_HOUSEKEEPING {dotted!r} cannot be imported ({type(exc.exception).__name__})"
        ) from None

    def housekeeping(session: Session, now: datetime) -> int:
        return int(job(session, now=now))

    return housekeeping


def build_worker(
    app: Flask,
    *,
    batch: int | None = None,
    lease_seconds: float | None = None,
    worker_id: str | None = None,
    on_batch: Callable[[WorkerStats], None] | None = None,
) -> Worker:
    """A worker on the app's database and sink registry, configured by ``WORKER_*``."""
    factory: Callable[[], Session] = sessionmaker(bind=get_engine(app), expire_on_commit=False)
    return Worker(
        factory,
        get_sinks(app),
        worker_id=worker_id,
        batch=batch or int(app.config["WORKER_BATCH"]),
        lease_seconds=lease_seconds or float(app.config["WORKER_LEASE_SECONDS"]),
        housekeeping=_housekeeping(app),
        housekeeping_interval=float(app.config["WORKER_HOUSEKEEPING_SECONDS"]),
        on_batch=on_batch,
    )


def start_background_worker(app: Flask) -> tuple[threading.Event, threading.Thread]:
    """Start the in-process worker of ``tandem serve`` in a daemon thread.

    Returns:
        The event that stops it, and its thread (join it after setting the event).
    """
    stop = threading.Event()
    worker = build_worker(app)
    thread = threading.Thread(
        target=worker.run_forever,
        args=(stop,),
        kwargs={"poll_seconds": float(app.config["WORKER_POLL_SECONDS"])},
        name="tandem-outbox-worker",
        daemon=True,
    )
    thread.start()
    return stop, thread


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (the message in hand is finished) instead of killing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl+C: stop now
        click.echo(f"{signal.Signals(signum).name}: stopping after the current message", err=True)
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver everything due now, then exit.")
@click.option(
    "--batch", type=click.IntRange(1, 1000), help="Messages per claim [WORKER_BATCH: 20]."
)
@click.option(
    "--poll",
    type=click.FloatRange(0.01, 3600),
    help="Seconds to sleep when nothing is due [WORKER_POLL_SECONDS: 5].",
)
@click.option(
    "--lease",
    type=click.FloatRange(0.1, 7 * 86400),
    help="Seconds before another worker may take over a claim [WORKER_LEASE_SECONDS: 300].",
)
@click.option("--worker-id", help="Name of this worker in claims (default host:pid:random).")
@with_appcontext
def worker_command(
    once: bool,
    batch: int | None,
    poll: float | None,
    lease: float | None,
    worker_id: str | None,
) -> None:
    """Deliver pending write-back messages through the registered sinks.

    Progress goes to stderr, one line per batch. Ctrl+C or SIGTERM stops after the
    message in hand; claimed messages not started are given back.
    """
    if worker_id is not None and not 1 <= len(worker_id) <= 200:
        raise click.BadParameter("1–200 characters", param_hint="--worker-id")
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = build_worker(
        app,
        batch=batch,
        lease_seconds=lease,
        worker_id=worker_id,
        on_batch=lambda stats: click.echo(f"{worker.worker_id}: {stats.summary()}", err=True),
    )
    poll_seconds = poll if poll is not None else float(app.config["WORKER_POLL_SECONDS"])
    click.echo(
        f"outbox worker {worker.worker_id}: batch {worker.batch}, lease "
        f"{worker.lease_seconds:g} s, sinks {', '.join(sorted(worker.sinks)) or 'none'}"
        + (" (once)" if once else f", polling every {poll_seconds:g} s (Ctrl+C stops)"),
        err=True,
    )
    stop = threading.Event()
    total = WorkerStats()
    try:
        with _stop_on_signals(stop):
            if once:
                while not stop.is_set():
                    stats = worker.run_once(stop)
                    total += stats
                    if stats.claimed == 0:
                        break
            else:
                total = worker.run_forever(stop, poll_seconds=poll_seconds)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"database error: {type(exc).__name__}: {reason}") from None
    click.echo(f"outbox worker {worker.worker_id} done: {total.summary()}", err=True)


# --------------------------------------------------------------------------- outbox


def _admin(org_slug: str) -> Actor:
    org = organizations.get_organization(get_session(), org_slug)
    return Actor.admin(org.id, actor())


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _message_dict(m: OutboxMessage, *, payload: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": m.id,
        "status": m.status.value,
        "kind": m.kind,
        "target": m.target,
        "idempotency_key": m.idempotency_key,
        "attempts": m.attempts,
        "max_attempts": m.max_attempts,
        "next_attempt_at": _iso(m.next_attempt_at),
        "claimed_by": m.claimed_by,
        "claimed_at": _iso(m.claimed_at),
        "delivered_at": _iso(m.delivered_at),
        "created_at": _iso(m.created_at),
        "last_error": m.last_error,
    }
    if payload:
        data["payload"] = m.payload
    return data


def _short(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group("outbox")
def outbox_group() -> None:
    """The write-back outbox: messages waiting, delivered or dead (organization admin)."""


@outbox_group.command("list")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--status", type=click.Choice(_STATUSES), help="Only messages in this status.")
@click.option("--target", help="Only messages to this target.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def outbox_list(
    org_slug: str, status: str | None, target: str | None, limit: int, as_json: bool
) -> None:
    """List an organization's write-back messages, newest first."""
    session = get_session()
    admin = _admin(org_slug)
    rows = outbox.list_messages(session, admin, status=status, target=target, limit=limit)
    totals = outbox.counts(session, org_id=admin.org_id, target=target)
    if as_json:
        echo_json({"counts": totals, "messages": [_message_dict(m) for m in rows]})
        return
    if not rows:
        click.echo("no messages" + (f" with status {status}" if status else ""))
    else:
        click.echo("ID\tSTATUS\tKIND\tTARGET\tATTEMPTS\tWHEN\tLAST ERROR")
    for m in rows:
        when = m.delivered_at if m.status is OutboxStatus.DELIVERED else m.next_attempt_at
        if m.status is OutboxStatus.DELIVERING:
            when = m.claimed_at
        click.echo(
            f"{m.id}\t{m.status.value}\t{m.kind}\t{m.target}\t{m.attempts}/{m.max_attempts}"
            f"\t{_iso(when) or ''}\t{_short(m.last_error)}"
        )
    click.echo(" · ".join(f"{k} {v}" for k, v in totals.items()))


@outbox_group.command("show")
@click.argument("message_id", type=int)
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def outbox_show(message_id: int, org_slug: str, as_json: bool) -> None:
    """Show one message with its payload (personal data: for the operator only)."""
    message = outbox.get_message(get_session(), _admin(org_slug), message_id)
    data = _message_dict(message, payload=True)
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        if key == "payload":
            continue
        click.echo(f"{key:<18}{'' if value is None else value}")
    click.echo("payload")
    echo_json(data["payload"])


def _target_warning(session: Session, org_id: int, name: str) -> str | None:
    """Why messages to this target would fail again, if they would."""
    try:
        target = writeback.get_target(session, org_id=org_id, name=name)
    except NotFound:
        return f"target {name!r} does not exist: add it first (tandem targets add)"
    if not target.active:
        return f"target {name!r} is paused: resume it first (tandem targets resume)"
    if target.sink not in get_sinks():
        return f"no sink {target.sink!r} is registered in this deployment (TANDEM_SINKS)"
    return None


@outbox_group.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--all-dead", is_flag=True, help="Retry every dead message (of --target).")
@click.option("--target", help="With --all-dead: only messages to this target.")
@with_appcontext
@handle_errors
def outbox_retry(message_id: int | None, org_slug: str, all_dead: bool, target: str | None) -> None:
    """Send message MESSAGE_ID again now, with fresh attempts (dead or pending ones)."""
    if (message_id is None) == (not all_dead):
        raise click.UsageError("give either a MESSAGE_ID or --all-dead")
    if target is not None and not all_dead:
        raise click.UsageError("--target only goes with --all-dead")
    session = get_session()
    admin = _admin(org_slug)
    if message_id is not None:
        before = outbox.get_message(session, admin, message_id).status.value
        message = outbox.retry(session, admin, message_id)
        warnings = [_target_warning(session, admin.org_id, message.target)]
        commit()
        click.echo(
            f"message {message.id} ({message.kind} → {message.target}) is pending again "
            f"(was {before}); the worker delivers it next"
        )
    else:
        ids = outbox.retry_dead(session, admin, target=target)
        names = sorted({outbox.get_message(session, admin, i).target for i in ids})
        warnings = [_target_warning(session, admin.org_id, n) for n in names]
        commit()
        click.echo(f"{len(ids)} dead message(s) are pending again")
    for warning in filter(None, warnings):
        click.echo(f"warning: {warning}; its messages will fail again", err=True)


# --------------------------------------------------------------------------- targets


def _settings(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--setting")
        if key in out:
            raise click.BadParameter(f"{key!r} is given twice", param_hint="--setting")
        out[key] = value
    return out


def _target_line(session: Session, t: WritebackTarget) -> str:
    totals = outbox.counts(session, org_id=t.org_id, target=t.name)
    backlog = f"pending {totals['pending'] + totals['delivering']} · dead {totals['dead']}"
    settings = ", ".join(f"{k}={v}" for k, v in sorted(t.settings.items()))
    return (
        f"{t.name}\t{t.sink}\t{','.join(t.kinds)}\t{'active' if t.active else 'paused'}"
        f"\t{backlog}\t{settings}"
    )


@click.group("targets")
def targets_group() -> None:
    """Write-back targets of an organization (where completions, hours, skill gains go)."""


@targets_group.command("add")
@click.argument("name")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--sink", required=True, help="A registered sink, e.g. journal.")
@click.option(
    "--kinds",
    default=",".join(writeback.MESSAGE_KINDS),
    show_default=True,
    help="Message kinds it receives, comma-separated.",
)
@click.option(
    "--setting", "settings", multiple=True, metavar="KEY=VALUE", help="A sink setting (repeat)."
)
@with_appcontext
@handle_errors
def targets_add(name: str, org_slug: str, sink: str, kinds: str, settings: tuple[str, ...]) -> None:
    """Add write-back target NAME delivered by SINK."""
    registry = get_sinks()
    if sink not in registry:
        registered = ", ".join(sorted(registry)) or "none"
        raise click.ClickException(
            f"no sink {sink!r} is registered; registered sinks: {registered} (TANDEM_SINKS)"
        )
    values = _settings(settings)
    kind_list = [k.strip() for k in kinds.split(",") if k.strip()]
    session = get_session()
    org = organizations.get_organization(session, org_slug)
    # Factories only build (no I/O): building one checks the settings now, not at delivery.
    registry[sink](TargetConfig(org_id=org.id, name=name, sink=sink, settings=values))
    target = writeback.add_target(
        session,
        org_id=org.id,
        name=name,
        sink=sink,
        kinds=kind_list,
        settings=values,
        actor=actor(),
    )
    commit()
    click.echo(f"added target {target.name} ({target.sink}: {', '.join(target.kinds)})")


@targets_group.command("list")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@with_appcontext
@handle_errors
def targets_list(org_slug: str) -> None:
    """List an organization's write-back targets with their backlog."""
    session = get_session()
    org = organizations.get_organization(session, org_slug)
    rows = writeback.list_targets(session, org_id=org.id)
    if not rows:
        click.echo(f"no write-back targets in {org_slug}: tandem targets add --org {org_slug} …")
        return
    for t in rows:
        click.echo(_target_line(session, t))


def _set_active(org_slug: str, name: str, *, active: bool) -> WritebackTarget:
    session = get_session()
    org = organizations.get_organization(session, org_slug)
    target = writeback.get_target(session, org_id=org.id, name=name)
    writeback.set_target_active(session, target, active=active, actor=actor())
    commit()
    return target


@targets_group.command("pause")
@click.argument("name")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@with_appcontext
@handle_errors
def targets_pause(name: str, org_slug: str) -> None:
    """Pause target NAME: it receives no new messages; waiting ones are dead-lettered."""
    _set_active(org_slug, name, active=False)
    click.echo(f"target {name} is paused")


@targets_group.command("resume")
@click.argument("name")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@with_appcontext
@handle_errors
def targets_resume(name: str, org_slug: str) -> None:
    """Resume target NAME (retry its dead messages with: tandem outbox retry --all-dead)."""
    _set_active(org_slug, name, active=True)
    click.echo(f"target {name} is active")
