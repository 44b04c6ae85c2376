"""messaging in depth: pacing and expiry of queued messages, scheduling, media, Messaging Services, opt-outs

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_QUEUED = sa.text("status = 'queued'")


def _resource(name: str, *cols: sa.Column | sa.UniqueConstraint) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        *cols,
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("sid"),
    )


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("send_after", sa.Float(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("send_at", sa.DateTime(), nullable=True))
    # Messages queued before this revision go at once.
    op.execute("UPDATE messages SET send_after = 0 WHERE status = 'queued'")
    op.drop_index("ix_messages_queued", table_name="messages")
    op.create_index(
        "ix_messages_due", "messages", ["send_after"], sqlite_where=_QUEUED, postgresql_where=_QUEUED
    )
    op.create_index("ix_messages_service_to", "messages", ["messaging_service_sid", "to"])
    _resource(
        "message_media",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_message_media_message_sid", "message_media", ["message_sid"])
    op.create_table(
        "message_senders",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("next_slot", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sender"),
    )
    _resource(
        "messaging_services",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=False),
        sa.Column("inbound_request_url", sa.Text(), nullable=True),
        sa.Column("inbound_method", sa.String(length=4), nullable=False),
        sa.Column("fallback_url", sa.Text(), nullable=True),
        sa.Column("fallback_method", sa.String(length=4), nullable=False),
        sa.Column("status_callback", sa.Text(), nullable=True),
        sa.Column("sticky_sender", sa.Boolean(), nullable=False),
        sa.Column("mms_converter", sa.Boolean(), nullable=False),
        sa.Column("smart_encoding", sa.Boolean(), nullable=False),
        sa.Column("fallback_to_long_code", sa.Boolean(), nullable=False),
        sa.Column("area_code_geomatch", sa.Boolean(), nullable=False),
        sa.Column("validity_period", sa.Integer(), nullable=False),
        sa.Column("synchronous_validation", sa.Boolean(), nullable=False),
        sa.Column("usecase", sa.String(length=32), nullable=False),
        sa.Column("use_inbound_webhook_on_number", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_messaging_services_account_sid", "messaging_services", ["account_sid"])
    _resource(
        "messaging_service_numbers",
        sa.Column("service_sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("phone_number", sa.String(length=32), nullable=False),
        sa.UniqueConstraint("phone_number"),
    )
    op.create_index("ix_messaging_service_numbers_service_sid", "messaging_service_numbers", ["service_sid"])
    op.create_table(
        "opt_outs",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "address"),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
    op.drop_table("messaging_service_numbers")
    op.drop_table("messaging_services")
    op.drop_table("message_senders")
    op.drop_table("message_media")
    op.drop_index("ix_messages_service_to", table_name="messages")
    op.drop_index("ix_messages_due", table_name="messages")
    op.create_index("ix_messages_queued", "messages", ["seq"], sqlite_where=_QUEUED, postgresql_where=_QUEUED)
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("send_at")
        batch.drop_column("expires_at")
        batch.drop_column("send_after")
