"""login sessions remember when they were last used (idle timeout)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "login_sessions", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("login_sessions") as batch_op:
        batch_op.drop_column("last_seen_at")
