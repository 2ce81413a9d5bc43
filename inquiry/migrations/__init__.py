"""Alembic migrations: the schema of record."""
