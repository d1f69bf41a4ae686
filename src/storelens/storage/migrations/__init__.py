"""Alembic migrations for the storelens schema (a package so the files ship in the wheel)."""
