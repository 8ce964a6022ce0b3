"""sync run details and one running sync per connection

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 09:08:44.543235
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get "{}"; the default is dropped again so the model stays the truth.
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("details", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.alter_column("details", server_default=None)

    # Runs left "running" by a crash would block the unique index: keep the newest per
    # connection running (the engine marks it abandoned when it is stale), fail the rest.
    op.execute(
        sa.text(
            "UPDATE sync_runs SET status = 'failed', "
            "error = 'abandoned: superseded by a newer run' "
            "WHERE status = 'running' AND id NOT IN ("
            "SELECT max(id) FROM sync_runs WHERE status = 'running' GROUP BY connection_id)"
        )
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_sync_runs_one_running",
            ["connection_id"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_sync_runs_one_running",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.drop_column("details")
