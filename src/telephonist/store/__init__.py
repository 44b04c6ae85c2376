"""Persistent state: SQLAlchemy Core tables, the database handle, durable jobs and Alembic migrations."""
