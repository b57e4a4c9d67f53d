"""inbound_updates.chat_id, chat_claims and album_answers: several bot processes on one
database (each chat's updates handled in order by one process at a time; an album's one
answer kept in the database, not in a process's memory)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 17:00:00
"""

import sqlalchemy as sa
from alembic import op

import workflow.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_id", sa.BigInteger(), nullable=False,
                                      server_default="0"))
    op.create_table(
        "chat_claims",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("until", workflow.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_chat_claims")),
    )
    op.create_table(
        "album_answers",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("media_group_id", sa.String(length=100), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("due_at", workflow.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "media_group_id", name=op.f("pk_album_answers")),
    )


def downgrade() -> None:
    op.drop_table("album_answers")
    op.drop_table("chat_claims")
    with op.batch_alter_table("inbound_updates", schema=None) as batch_op:
        batch_op.drop_column("chat_id")
