"""Alembic migrations of the server's database (run by ``init-db`` and at ``serve`` start)."""
