"""SMPP: which carrier a message went to, the SMSC's id of each part it accepted, and what ESMEs bound to
Telephonist submitted

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SENDING = sa.text("status = 'sending'")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("carrier", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_messages_sending", "messages", ["carrier"], sqlite_where=_SENDING, postgresql_where=_SENDING
    )
    op.create_table(
        "message_parts",
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("smsc_message_id", sa.String(length=65), nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("stat", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("carrier", "smsc_message_id"),
    )
    op.create_index("ix_message_parts_message_sid", "message_parts", ["message_sid"])
    op.create_table(
        "smpp_submits",
        sa.Column("message_id", sa.String(length=65), nullable=False),
        sa.Column("system_id", sa.String(length=16), nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=True),
        sa.Column("registered_delivery", sa.Integer(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_smpp_submits_message_sid", "smpp_submits", ["message_sid"])


def downgrade() -> None:
    op.drop_table("smpp_submits")
    op.drop_table("message_parts")
    op.drop_index("ix_messages_sending", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("carrier")
