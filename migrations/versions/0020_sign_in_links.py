"""Single-use sign-in links and password resets

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_path', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sign_in_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_sign_in_tokens_token_hash'))
    )
    op.create_index(op.f('ix_sign_in_tokens_expires_at'), 'sign_in_tokens', ['expires_at'], unique=False)
    op.create_index(op.f('ix_sign_in_tokens_user_id'), 'sign_in_tokens', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sign_in_tokens_user_id'), table_name='sign_in_tokens')
    op.drop_index(op.f('ix_sign_in_tokens_expires_at'), table_name='sign_in_tokens')
    op.drop_table('sign_in_tokens')
