"""applications and API keys

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _resource(name: str, *cols: sa.Column) -> None:  # type: ignore[type-arg]
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
    _resource(
        "applications",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=False),
        sa.Column("voice_url", sa.Text(), nullable=True),
        sa.Column("voice_method", sa.String(length=4), nullable=False),
        sa.Column("voice_fallback_url", sa.Text(), nullable=True),
        sa.Column("voice_fallback_method", sa.String(length=4), nullable=False),
        sa.Column("status_callback", sa.Text(), nullable=True),
        sa.Column("status_callback_method", sa.String(length=4), nullable=False),
        sa.Column("voice_caller_id_lookup", sa.Boolean(), nullable=False),
        sa.Column("sms_url", sa.Text(), nullable=True),
        sa.Column("sms_method", sa.String(length=4), nullable=False),
        sa.Column("sms_fallback_url", sa.Text(), nullable=True),
        sa.Column("sms_fallback_method", sa.String(length=4), nullable=False),
        sa.Column("sms_status_callback", sa.Text(), nullable=True),
        sa.Column("message_status_callback", sa.Text(), nullable=True),
        sa.Column("public_application_connect_enabled", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_applications_account_seq", "applications", ["account_sid", "seq"])
    _resource(
        "api_keys",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
    )
    op.create_index("ix_api_keys_account_sid", "api_keys", ["account_sid"])


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("applications")
