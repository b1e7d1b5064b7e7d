"""LTI 1.3 tool: platforms, Vern's key, handshake values, used nonces, person links,
launches; login sessions limited to one launched course

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lti_state_values',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_lti_state_values'))
    )
    with op.batch_alter_table('lti_state_values', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_state_values_expires_at'), ['expires_at'], unique=False)

    op.create_table('lti_tool_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_tool_keys')),
    sa.UniqueConstraint('kid', name=op.f('uq_lti_tool_keys_kid'))
    )
    op.create_table('lti_platforms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('issuer', sa.String(length=300), nullable=False),
    sa.Column('client_id', sa.String(length=200), nullable=False),
    sa.Column('deployment_ids', sa.JSON(), nullable=False),
    sa.Column('auth_login_url', sa.String(length=500), nullable=False),
    sa.Column('auth_token_url', sa.String(length=500), nullable=False),
    sa.Column('key_set_url', sa.String(length=500), nullable=True),
    sa.Column('key_set', sa.JSON(), nullable=True),
    sa.Column('provisions_users', sa.Boolean(), nullable=False),
    sa.Column('department_claim', sa.String(length=100), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_lti_platforms_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_platforms')),
    sa.UniqueConstraint('issuer', 'client_id', name=op.f('uq_lti_platforms_issuer_client_id'))
    )
    op.create_table('lti_launches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('course_key', sa.String(length=64), nullable=False),
    sa.Column('deployment_id', sa.String(length=255), nullable=False),
    sa.Column('context_id', sa.String(length=255), nullable=True),
    sa.Column('resource_link_id', sa.String(length=255), nullable=True),
    sa.Column('lineitem_url', sa.String(length=500), nullable=True),
    sa.Column('ags_scopes', sa.JSON(), nullable=False),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_launches_platform_id_lti_platforms')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_lti_launches_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_launches'))
    )
    with op.batch_alter_table('lti_launches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_launches_launched_at'), ['launched_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lti_launches_user_id'), ['user_id'], unique=False)

    op.create_table('lti_used_nonces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=200), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_used_nonces_platform_id_lti_platforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_used_nonces')),
    sa.UniqueConstraint('platform_id', 'nonce', name=op.f('uq_lti_used_nonces_platform_id_nonce'))
    )
    with op.batch_alter_table('lti_used_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_used_nonces_used_at'), ['used_at'], unique=False)

    op.create_table('lti_user_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platforms.id'], name=op.f('fk_lti_user_links_platform_id_lti_platforms')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_lti_user_links_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_user_links')),
    sa.UniqueConstraint('platform_id', 'subject', name=op.f('uq_lti_user_links_platform_id_subject'))
    )
    with op.batch_alter_table('lti_user_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_user_links_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('course_scope', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('course_scope')

    with op.batch_alter_table('lti_user_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_user_links_user_id'))

    op.drop_table('lti_user_links')
    with op.batch_alter_table('lti_used_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_used_nonces_used_at'))

    op.drop_table('lti_used_nonces')
    with op.batch_alter_table('lti_launches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_launches_user_id'))
        batch_op.drop_index(batch_op.f('ix_lti_launches_launched_at'))

    op.drop_table('lti_launches')
    op.drop_table('lti_platforms')
    op.drop_table('lti_tool_keys')
    with op.batch_alter_table('lti_state_values', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_state_values_expires_at'))

    op.drop_table('lti_state_values')
