"""recordings, their audio, and transcriptions

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
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
        "recordings",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=True),
        sa.Column("conference_sid", sa.String(length=34), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("track", sa.String(length=16), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
    )
    op.create_index("ix_recordings_account_seq", "recordings", ["account_sid", "seq"])
    op.create_index("ix_recordings_call", "recordings", ["call_sid"])
    op.create_table(
        "recording_media",
        sa.Column("recording_sid", sa.String(length=34), nullable=False),
        sa.Column("pcm", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("recording_sid"),
    )
    _resource(
        "transcriptions",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("recording_sid", sa.String(length=34), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transcription_text", sa.Text(), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=False),
    )
    op.create_index("ix_transcriptions_account_seq", "transcriptions", ["account_sid", "seq"])
    op.create_index("ix_transcriptions_recording_sid", "transcriptions", ["recording_sid"])


def downgrade() -> None:
    op.drop_table("transcriptions")
    op.drop_table("recording_media")
    op.drop_table("recordings")
