"""Anonymized counts: events, counters, the durable outbox and the uploader."""
