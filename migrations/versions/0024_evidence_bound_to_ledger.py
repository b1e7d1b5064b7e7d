"""Evidence bound to the ledger: every evidence row's digest in its entry, one chain, append-only guards

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 21:00:00

Entries made from now on carry `evidence`, a line of every field their record shows
(lms.evidence.binding). Entries made before keep their hashes as they were made (hashed without
the field), and `lms ledger verify` checks their records against the columns they do hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: SQLite keeps the table, and so its triggers.
    op.add_column("ledger_entries", sa.Column("evidence", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not through a batch (which would rebuild the table and drop its append-only triggers).
    op.execute("ALTER TABLE ledger_entries DROP COLUMN evidence")
