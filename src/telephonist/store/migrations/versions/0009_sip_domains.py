"""SIP Domains, CredentialLists and their Credentials, and the lists mapped onto each domain

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _resource(name: str, *cols: sa.Column, unique: tuple[str, ...] = ()) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        *cols,
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("sid"),
        *(sa.UniqueConstraint(column) for column in unique),
    )


def upgrade() -> None:
    _resource(
        "sip_domains",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("domain_name", sa.String(length=255), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=True),
        sa.Column("voice_url", sa.Text(), nullable=True),
        sa.Column("voice_method", sa.String(length=4), nullable=False),
        sa.Column("voice_fallback_url", sa.Text(), nullable=True),
        sa.Column("voice_fallback_method", sa.String(length=4), nullable=False),
        sa.Column("voice_status_callback_url", sa.Text(), nullable=True),
        sa.Column("voice_status_callback_method", sa.String(length=4), nullable=False),
        sa.Column("sip_registration", sa.Boolean(), nullable=False),
        sa.Column("emergency_calling_enabled", sa.Boolean(), nullable=False),
        sa.Column("secure", sa.Boolean(), nullable=False),
        sa.Column("byoc_trunk_sid", sa.String(length=34), nullable=True),
        sa.Column("emergency_caller_sid", sa.String(length=34), nullable=True),
        unique=("domain_name",),
    )
    op.create_index("ix_sip_domains_account_seq", "sip_domains", ["account_sid", "seq"])
    _resource(
        "sip_credential_lists",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=False),
    )
    op.create_index(
        "ux_sip_credential_lists_name", "sip_credential_lists", ["account_sid", "friendly_name"], unique=True
    )
    _resource(
        "sip_credentials",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("credential_list_sid", sa.String(length=34), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
    )
    op.create_index(
        "ux_sip_credentials_username", "sip_credentials", ["credential_list_sid", "username"], unique=True
    )
    op.create_table(
        "sip_credential_list_mappings",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("domain_sid", sa.String(length=34), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("credential_list_sid", sa.String(length=34), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(
        "ix_sip_credential_list_mappings_credential_list_sid",
        "sip_credential_list_mappings",
        ["credential_list_sid"],
    )
    op.create_index(
        "ux_sip_mappings",
        "sip_credential_list_mappings",
        ["domain_sid", "kind", "credential_list_sid"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("sip_credential_list_mappings")
    op.drop_table("sip_credentials")
    op.drop_table("sip_credential_lists")
    op.drop_table("sip_domains")
