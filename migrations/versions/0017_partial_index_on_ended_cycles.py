"""index only ended cycles: an index on every cycle's ended_at steered SQLite into
walking the whole table for `ended_at IS NULL`

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

ENDED = sa.text("ended_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_assignments_ended_at", table_name="assignments")
    op.create_index(
        "ix_assignments_ended",
        "assignments",
        ["ended_at"],
        sqlite_where=ENDED,
        postgresql_where=ENDED,
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_ended", table_name="assignments")
    op.create_index("ix_assignments_ended_at", "assignments", ["ended_at"])
