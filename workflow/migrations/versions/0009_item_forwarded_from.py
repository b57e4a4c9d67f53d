"""items.forwarded_from: where forwarded material came from, for the editor's card

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forwarded_from", sa.String(length=300), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("forwarded_from")
