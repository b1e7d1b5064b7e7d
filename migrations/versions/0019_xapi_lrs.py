"""Learning Record Stores for xAPI statements; time indexes the statement finder reads by

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lrs_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('password', sa.String(length=200), nullable=False),
    sa.Column('send_email', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id_seed', sa.String(length=36), nullable=False),
    sa.Column('read_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_lrs_endpoints_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lrs_endpoints'))
    )
    with op.batch_alter_table('live_seats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_seats_attended_at'), ['attended_at'], unique=False)

    with op.batch_alter_table('module_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_module_views_viewed_at'), ['viewed_at'], unique=False)

    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_attempts_submitted_at'), ['submitted_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quiz_attempts_submitted_at'))

    with op.batch_alter_table('module_views', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_module_views_viewed_at'))

    with op.batch_alter_table('live_seats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_seats_attended_at'))

    op.drop_table('lrs_endpoints')
