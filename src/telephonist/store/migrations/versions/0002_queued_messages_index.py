"""queued messages are their own send queue: a partial index on them

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    op.create_index("ix_messages_queued", "messages", ["seq"], sqlite_where=_QUEUED, postgresql_where=_QUEUED)
    # Send jobs of a database from before this revision: the queued messages themselves carry them now.
    op.execute("DELETE FROM jobs WHERE kind = 'message.send'")


def downgrade() -> None:
    op.drop_index("ix_messages_queued", table_name="messages")
