"""LTI: platforms an admin trusts to match people by email

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
