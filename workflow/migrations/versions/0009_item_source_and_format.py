"""items.forwarded_from: where forwarded material came from, for the editor's card;
items.body_format: the editor's bold, italic, links... in the body, for the website

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
        batch_op.add_column(sa.Column("body_format", sa.JSON(), nullable=False,
                                      server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("body_format")
        batch_op.drop_column("forwarded_from")
