"""identities refer to (org_id, person_id) of people; redundant indexes dropped

A sync writes one identity per person. Each row used to be checked against two foreign
keys (organization and person); one composite key to ``people (org_id, id)`` checks
both at once, and more: an identity can no longer point at a person of another
organization. ``people.org_id`` and ``person_identities.org_id`` lose their single-column
indexes, which the unique constraints starting with ``org_id`` already serve; the
identities' ``(org_id, person_id, source)`` and ``(person_id)`` become one unique
``(person_id, source)`` (the person fixes the organization).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_people_org_id_id", ["org_id", "id"])
        batch_op.drop_index("ix_people_org_id")
    with op.batch_alter_table("person_identities", schema=None) as batch_op:
        batch_op.drop_constraint("fk_person_identities_org_id_organizations", type_="foreignkey")
        batch_op.drop_constraint("fk_person_identities_person_id_people", type_="foreignkey")
        batch_op.drop_index("ix_person_identities_org_id")
        batch_op.drop_index("ix_person_identities_person_id")
        batch_op.drop_constraint("uq_person_identities_org_id_person_id_source", type_="unique")
        batch_op.create_unique_constraint(
            "uq_person_identities_person_id_source", ["person_id", "source"]
        )
        batch_op.create_foreign_key(
            "fk_person_identities_org_id_people",
            "people",
            ["org_id", "person_id"],
            ["org_id", "id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("person_identities", schema=None) as batch_op:
        batch_op.drop_constraint("fk_person_identities_org_id_people", type_="foreignkey")
        batch_op.drop_constraint("uq_person_identities_person_id_source", type_="unique")
        batch_op.create_unique_constraint(
            "uq_person_identities_org_id_person_id_source", ["org_id", "person_id", "source"]
        )
        batch_op.create_index("ix_person_identities_person_id", ["person_id"], unique=False)
        batch_op.create_index("ix_person_identities_org_id", ["org_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_person_identities_person_id_people",
            "people",
            ["person_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            "fk_person_identities_org_id_organizations",
            "organizations",
            ["org_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index("ix_people_org_id", ["org_id"], unique=False)
        batch_op.drop_constraint("uq_people_org_id_id", type_="unique")
