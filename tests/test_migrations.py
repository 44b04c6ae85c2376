"""The Alembic migrations build exactly the schema the models describe, so a database made by
`telephonist serve` and one made from the models never drift apart."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from conftest import database_url
from telephonist.store.db import Database
from telephonist.store.models import metadata


def test_migrations_build_the_models_schema(tmp_path: Path) -> None:
    url = database_url(tmp_path)  # SQLite, or PostgreSQL with TELEPHONIST_TEST_STORE=postgresql
    db = Database(url)
    db.migrate()
    db.close()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()
