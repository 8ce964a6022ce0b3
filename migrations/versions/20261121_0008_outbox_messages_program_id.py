"""outbox messages name their program in a column

A coordinator's write-back page lists the messages of one program. Their program used to
be read from each payload (``payload.program.id`` or ``payload.program_id``), which
scanned every message of the organization. ``outbox_messages.program_id`` now holds it,
indexed ``(program_id, status, id)``; deleting a program keeps its messages (the record
of what was sent) and clears the column. Existing messages are filled from their
payloads, in batches, when the payload names a program of the message's organization.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

# Frozen copies of the tables as this revision knows them (not the live models).
_messages = sa.table(
    "outbox_messages",
    sa.column("id", sa.Integer),
    sa.column("org_id", sa.Integer),
    sa.column("payload", sa.JSON),
    sa.column("program_id", sa.Integer),
)
_programs = sa.table("programs", sa.column("id", sa.Integer), sa.column("org_id", sa.Integer))


def _payload_program(payload: Any) -> int | None:
    """``payload["program"]["id"]``, else ``payload["program_id"]``: integers only."""
    if not isinstance(payload, dict):
        return None
    program = payload.get("program")
    if isinstance(program, dict):
        value = program.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    value = payload.get("program_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _backfill() -> None:
    """Fill ``program_id`` from the payloads, keyset-paged so no batch holds every row."""
    conn = op.get_bind()
    update = (
        sa.update(_messages)
        .where(_messages.c.id == sa.bindparam("message_id"))
        .values(program_id=sa.bindparam("new_program_id"))
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(_messages.c.id, _messages.c.org_id, _messages.c.payload)
            .where(_messages.c.id > last)
            .order_by(_messages.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        named = {row.id: (row.org_id, _payload_program(row.payload)) for row in rows}
        wanted = {pid for _org, pid in named.values() if pid is not None}
        if not wanted:
            continue
        # Only programs that exist, in the message's own organization (the foreign key
        # would refuse the rest; another organization's program is not this message's).
        exists = {
            (row.id, row.org_id)
            for row in conn.execute(
                sa.select(_programs.c.id, _programs.c.org_id).where(_programs.c.id.in_(wanted))
            )
        }
        params = [
            {"message_id": mid, "new_program_id": pid}
            for mid, (org_id, pid) in named.items()
            if pid is not None and (pid, org_id) in exists
        ]
        if params:
            conn.execute(update, params)


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("program_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_outbox_messages_program_id_programs",
            "programs",
            ["program_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _backfill()
    # After the backfill, so the index is built once rather than updated row by row.
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_messages_program_id_status_id",
            ["program_id", "status", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_program_id_status_id")
        batch_op.drop_constraint("fk_outbox_messages_program_id_programs", type_="foreignkey")
        batch_op.drop_column("program_id")
