"""The tables, as SQLAlchemy Core ``Table`` objects (ingest runs on Core for speed).

Times are Unix seconds in ``BigInteger`` columns: SQLite has no time zones, and one
representation on both databases keeps comparisons and indexes simple. The migration
in ``regional_server/migrations/versions`` creates exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

regions = Table(
    "regions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", BigInteger, nullable=False),
)

user_regions = Table(
    "user_regions",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
)

sessions = Table(
    "sessions",
    metadata,
    # Only a hash of the cookie value is stored: a copy of the database opens no session.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    # Only the token's SHA-256: a copy of the database calls no API.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("hint", String(8), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

documents = Table(
    "documents",
    metadata,
    # Files an admin uploads (the DHIS2 mapping): in the database, so that every app
    # process on every host reads the same one.
    Column("name", String(64), primary_key=True),
    Column("content", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    # "email:<address>" or "client:<ip>": attempts in the window that started then.
    Column("key", String(400), primary_key=True),
    Column("window_start", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
)

enrollment_codes = Table(
    "enrollment_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("hint", String(8), nullable=False),
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), nullable=False),
    Column("uses_left", Integer, nullable=False),
    Column("uses_total", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

kiosks = Table(
    "kiosks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), nullable=False),
    Column("public_key", String(100), nullable=False, unique=True),
    Column("cafe_name", String(200), nullable=False),
    Column("agent_version", String(32), nullable=False),
    Column("enrolled_at", BigInteger, nullable=False),
    Column("last_report_at", BigInteger, nullable=True),
    # Random, set at enrollment: the kiosk's part of the coverage figures' cell keys.
    Column("record_key", BigInteger, nullable=False),
    # What its latest report said it holds (NULL: built-in pack / no overlay / not said).
    Column("content_version", BigInteger, nullable=True),
    Column("settings_version", BigInteger, nullable=True),
    # Set by an admin (``/admin/kiosks``): a retired kiosk is no longer expected to report.
    Column("retired_at", BigInteger, nullable=True),
    Index("ix_kiosks_region_last_report", "region_id", "last_report_at"),
)

kiosk_weeks = Table(
    "kiosk_weeks",
    metadata,
    # One row per kiosk and ISO week it sent a report for (by period_start), written at
    # ingest with the first report's arrival and record key: the reporting
    # completeness' "received" records (``completeness``).
    Column("kiosk_id", String(64), ForeignKey("kiosks.id", ondelete="CASCADE"), primary_key=True),
    Column("week_start", Date, primary_key=True),
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), nullable=False),
    Column("week_end_at", BigInteger, nullable=False),
    Column("first_received_at", BigInteger, nullable=False),
    Column("record_key", BigInteger, nullable=False),
)

completeness_weekly = Table(
    "completeness_weekly",
    metadata,
    # The kiosk weeks received, rolled up at ingest like ``rollup_weekly``: per region,
    # week and days late (0: by the week's end; 61: more than 60 days), so that "on
    # time" follows ``report_timely_days`` without touching ``kiosk_weeks``.
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
    Column("week_start", Date, primary_key=True),
    Column("late_days", Integer, primary_key=True),
    Column("kiosks", BigInteger, nullable=False),
    # Sum of the kiosk weeks' record keys, modulo perturb.KEY_RANGE.
    Column("cell_key", BigInteger, nullable=False),
)

kiosk_feeds = Table(
    "kiosk_feeds",
    metadata,
    Column("kiosk_id", String(64), ForeignKey("kiosks.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    # The kiosk's UUID: the unique key makes a retried upload count once.
    Column("report_id", String(36), primary_key=True),
    Column("kiosk_id", String(64), ForeignKey("kiosks.id", ondelete="CASCADE"), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("period_start", BigInteger, nullable=False),
    Column("period_days", Float, nullable=False),
    Column("counts", Text, nullable=False),
    Column("agent_version", String(32), nullable=False),
    Column("feed_versions", Text, nullable=False),
    # Random, set at ingest, never published: the report's part of its cells' keys.
    Column("record_key", BigInteger, nullable=False),
)

rollup_weekly = Table(
    "rollup_weekly",
    metadata,
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
    Column("week_start", Date, primary_key=True),
    Column("counter", String(64), primary_key=True),
    Column("country", String(2), nullable=False),
    Column("total", BigInteger, nullable=False),
    # Sum of the record keys of the reports added here, modulo perturb.KEY_RANGE.
    Column("cell_key", BigInteger, nullable=False),
    Index("ix_rollup_country_week", "country", "week_start"),
)

feed_lists = Table(
    "feed_lists",
    metadata,
    Column("list_id", String(64), primary_key=True),
    Column("latest_version", BigInteger, nullable=False),
    Column("published_at", BigInteger, nullable=False),
)

alert_subscriptions = Table(
    "alert_subscriptions",
    metadata,
    # What a user wants to be told about one of their regions (``/alerts``).
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
    Column("silent_days", Integer, nullable=False),
    Column("jumps", Boolean, nullable=False),
    Column("feed_rejections", Boolean, nullable=False),
)

alert_prefs = Table(
    "alert_prefs",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("language", String(8), nullable=False),
    Column("digest", Boolean, nullable=False),
    Column("last_digest_at", BigInteger, nullable=True),
)

child_servers = Table(
    "child_servers",
    metadata,
    # Regional servers that push their published region aggregates to this one
    # (docs/national-view.md). Their public key is pinned here by an administrator.
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("public_key", String(100), nullable=False, unique=True),
    # Space-separated region codes and country codes it may speak for.
    Column("regions", Text, nullable=False),
    Column("countries", Text, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", BigInteger, nullable=False),
    Column("last_push_at", BigInteger, nullable=True),
)

child_regions = Table(
    "child_regions",
    metadata,
    # A region whose figures come from a child server, not from kiosks; its coverage
    # as the child published it (NULL: hidden) at ``generated_at``.
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
    Column("child_id", Integer, ForeignKey("child_servers.id", ondelete="CASCADE"), nullable=False),
    Column("generated_at", BigInteger, nullable=False),
    Column("kiosks_enrolled", BigInteger, nullable=True),
    Column("kiosks_active", BigInteger, nullable=True),
    Column("kiosks_on_newest", BigInteger, nullable=True),
)

pushed_weekly = Table(
    "pushed_weekly",
    metadata,
    # A figure as a child server published it: already perturbed; NULL = hidden there
    # (its value never reaches this server). No row for a week: no data.
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
    Column("week_start", Date, primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("value", BigInteger, nullable=True),
)

parent_pushes = Table(
    "parent_pushes",
    metadata,
    # Push ids already applied: a retried push is a no-op.
    Column("push_id", String(36), primary_key=True),
    Column("child_id", Integer, ForeignKey("child_servers.id", ondelete="CASCADE"), nullable=False),
    Column("received_at", BigInteger, nullable=False, index=True),
)
