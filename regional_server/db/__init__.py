"""Storage: table definitions, engine creation (SQLite or PostgreSQL) and migrations."""
