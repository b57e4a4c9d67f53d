"""Alembic migrations of the schema (warta db upgrade)."""
