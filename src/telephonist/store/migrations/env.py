"""Alembic environment: migrations run on the connection the platform hands over at start-up."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from telephonist.store.models import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # `alembic` command line, e.g. autogenerate during development
    url = str(config.attributes.get("connection_url") or config.get_main_option("sqlalchemy.url"))
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
