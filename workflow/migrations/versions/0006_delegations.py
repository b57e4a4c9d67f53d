"""delegations: acting officials (Plt/Plh) who decide for a pejabat on a range of days

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 08:30:00
"""

import sqlalchemy as sa
from alembic import op

from workflow.models import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delegations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("delegate_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=8), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["principal_id"], ["people.id"],
                                name=op.f("fk_delegations_principal_id_people")),
        sa.ForeignKeyConstraint(["delegate_id"], ["people.id"],
                                name=op.f("fk_delegations_delegate_id_people")),
        sa.ForeignKeyConstraint(["created_by_id"], ["people.id"],
                                name=op.f("fk_delegations_created_by_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegations")),
    )
    op.create_index(op.f("ix_delegations_delegate_id_ends_on"), "delegations",
                    ["delegate_id", "ends_on"])
    op.create_index(op.f("ix_delegations_principal_id"), "delegations", ["principal_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_delegations_principal_id"), table_name="delegations")
    op.drop_index(op.f("ix_delegations_delegate_id_ends_on"), table_name="delegations")
    op.drop_table("delegations")
