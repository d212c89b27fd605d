"""A parent server: registered child servers and the region aggregates they push.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "child_servers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("public_key", sa.String(100), nullable=False, unique=True),
        sa.Column("regions", sa.Text, nullable=False),
        sa.Column("countries", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_push_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "child_regions",
        sa.Column(
            "region_id",
            sa.Integer,
            sa.ForeignKey("regions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "child_id",
            sa.Integer,
            sa.ForeignKey("child_servers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("generated_at", sa.BigInteger, nullable=False),
        sa.Column("kiosks_enrolled", sa.BigInteger, nullable=True),
        sa.Column("kiosks_active", sa.BigInteger, nullable=True),
        sa.Column("kiosks_on_newest", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "pushed_weekly",
        sa.Column(
            "region_id",
            sa.Integer,
            sa.ForeignKey("regions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "parent_pushes",
        sa.Column("push_id", sa.String(36), primary_key=True),
        sa.Column(
            "child_id",
            sa.Integer,
            sa.ForeignKey("child_servers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("received_at", sa.BigInteger, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("parent_pushes")
    op.drop_table("pushed_weekly")
    op.drop_table("child_regions")
    op.drop_table("child_servers")
