"""Conferences across engines: the engine that runs each room, and one live room of a name per account;
SIP registrations in the database, for every engine

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LIVE = "status IN ('init', 'in-progress')"


def upgrade() -> None:
    with op.batch_alter_table("conferences") as batch:
        batch.add_column(sa.Column("node", sa.String(length=64), nullable=True))
    # A room of a process that stopped without ending it is over; of two live rooms of one name (which
    # one process could not make), the older is.
    op.execute(
        "UPDATE conferences SET status = 'completed', reason_conference_ended = 'last-participant-left' "
        f"WHERE {LIVE} AND EXISTS (SELECT 1 FROM conferences AS newer "
        "WHERE newer.account_sid = conferences.account_sid "
        "AND newer.friendly_name = conferences.friendly_name "
        f"AND newer.{LIVE} AND newer.seq > conferences.seq)"
    )
    op.create_index(
        "ux_conferences_live",
        "conferences",
        ["account_sid", "friendly_name"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )
    op.create_table(
        "sip_registrations",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("aor", sa.String(length=320), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.String(length=512), nullable=False),
        sa.Column("source_host", sa.String(length=64), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("call_id", sa.String(length=256), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("domain_sid", sa.String(length=34), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ux_sip_registrations", "sip_registrations", ["aor", "contact"], unique=True)
    op.create_index("ix_sip_registrations_user", "sip_registrations", ["account_sid", "username"])


def downgrade() -> None:
    op.drop_table("sip_registrations")
    op.drop_index("ux_conferences_live", table_name="conferences")
    with op.batch_alter_table("conferences") as batch:
        batch.drop_column("node")
