"""Database operations, one concept per module; callers pass a Connection (in a transaction)."""
