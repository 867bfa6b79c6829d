"""Alembic migrations of the monitoring store (`store.database.migrate` runs them)."""
