"""conferences and their participants

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conferences",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("reason_conference_ended", sa.String(length=64), nullable=True),
        sa.Column("call_sid_ending_conference", sa.String(length=34), nullable=True),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("sid"),
    )
    op.create_index("ix_conferences_account_name", "conferences", ["account_sid", "friendly_name"])
    op.create_table(
        "participants",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("conference_sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        sa.Column("hold", sa.Boolean(), nullable=False),
        sa.Column("coaching", sa.Boolean(), nullable=False),
        sa.Column("call_sid_to_coach", sa.String(length=34), nullable=True),
        sa.Column("start_conference_on_enter", sa.Boolean(), nullable=False),
        sa.Column("end_conference_on_exit", sa.Boolean(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_participants_conference_sid", "participants", ["conference_sid"])


def downgrade() -> None:
    op.drop_table("participants")
    op.drop_table("conferences")
