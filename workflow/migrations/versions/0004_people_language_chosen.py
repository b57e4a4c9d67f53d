"""people.language_chosen: whether the person's language was chosen or is still a default

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 10:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # People registered before this column keep the language they have (nobody's bot
    # switches language under them); people registered from now on start unchosen.
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language_chosen", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.alter_column("language_chosen", server_default=sa.false())


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("language_chosen")
