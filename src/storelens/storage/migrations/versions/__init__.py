"""Alembic revision scripts (one file per schema change; never edit a released one)."""
