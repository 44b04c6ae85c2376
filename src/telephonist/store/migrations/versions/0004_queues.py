"""queues and the callers waiting in them

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=False),
        sa.Column("max_size", sa.Integer(), nullable=False),
        sa.Column("dequeued", sa.Integer(), nullable=False),
        sa.Column("total_wait", sa.Integer(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("sid"),
    )
    op.create_index("ix_queues_account_name", "queues", ["account_sid", "friendly_name"])
    op.create_table(
        "queue_members",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("queue_sid", sa.String(length=34), nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("date_enqueued", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("call_sid"),
    )
    op.create_index("ix_queue_members_queue_sid", "queue_members", ["queue_sid"])


def downgrade() -> None:
    op.drop_table("queue_members")
    op.drop_table("queues")
