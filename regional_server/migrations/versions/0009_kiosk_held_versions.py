"""The content pack and settings overlay each kiosk holds (issue 21's fleet view).

Two nullable columns on ``kiosks``, set from each stored report's optional ``content``
and ``settings`` (NULL: the built-in pack / no overlay, or a kiosk too old to say).

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = ("content_version", "settings_version")


def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column("kiosks", sa.Column(column, sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kiosks") as batch:
        for column in _COLUMNS:
            batch.drop_column(column)
