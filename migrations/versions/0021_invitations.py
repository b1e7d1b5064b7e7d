"""Invitations: when each person was invited to Vern

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_invited_at'), ['invited_at'], unique=False)
    # Everyone already here came in before invitations existed and knows the way in: counting
    # them as invited keeps an upgrade from mailing the whole company.
    op.execute(sa.text('UPDATE users SET invited_at = created_at WHERE invited_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_invited_at'))
        batch_op.drop_column('invited_at')
