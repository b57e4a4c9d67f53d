"""media.alt_text: what each photo shows, for the website's readers who cannot see it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 08:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alt_text", sa.String(length=300), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_column("alt_text")
