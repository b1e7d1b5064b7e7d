"""people on attestations as they were at signing

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 00:14:33.968466
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


# Copies of who the person was are filled in for older rows from today's tables (the best
# there is); new rows get them at signing. Attestations refuse UPDATE, so the guard is lifted
# for this one backfill and put back.
_BACKFILL = """
UPDATE attestations SET
  cycle = (SELECT cycle FROM assignments WHERE assignments.id = attestations.assignment_id),
  person_email = (SELECT email FROM users WHERE users.id = attestations.user_id),
  person_name = (SELECT full_name FROM users WHERE users.id = attestations.user_id),
  department = COALESCE((SELECT departments.name FROM users JOIN departments
                          ON departments.id = users.department_id
                         WHERE users.id = attestations.user_id), '')
"""
_SQLITE_GUARD = (
    "CREATE TRIGGER attestations_no_update BEFORE UPDATE ON attestations "
    "BEGIN SELECT RAISE(ABORT, 'attestations are append-only'); END"
)


def upgrade() -> None:
    op.add_column('attestations', sa.Column('cycle', sa.Integer(), nullable=True))
    op.add_column('attestations', sa.Column('person_email', sa.String(length=254), nullable=True))
    op.add_column('attestations', sa.Column('person_name', sa.String(length=200), nullable=True))
    op.add_column('attestations', sa.Column('department', sa.String(length=200), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER attestations_no_update")
        op.execute(_BACKFILL)
        op.execute(_SQLITE_GUARD)
    else:
        op.execute("ALTER TABLE attestations DISABLE TRIGGER attestations_append_only")
        op.execute(_BACKFILL)
        op.execute("ALTER TABLE attestations ENABLE TRIGGER attestations_append_only")


def downgrade() -> None:
    for column in ('department', 'person_name', 'person_email', 'cycle'):
        op.drop_column('attestations', column)
