"""Single sign-on: OpenID Connect identity providers, their people and flows

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('discovery_url', sa.String(length=500), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('client_secret_encrypted', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('passwords_off', sa.Boolean(), nullable=False),
    sa.Column('create_people', sa.Boolean(), nullable=False),
    sa.Column('department_claim', sa.String(length=100), nullable=True),
    sa.Column('discovery', sa.JSON(), nullable=True),
    sa.Column('key_set', sa.JSON(), nullable=True),
    sa.Column('key_set_fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_identity_providers_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_providers')),
    sa.UniqueConstraint('name', name=op.f('uq_identity_providers_name'))
    )
    op.create_table('identity_provider_domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['identity_providers.id'], name=op.f('fk_identity_provider_domains_provider_id_identity_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_provider_domains')),
    sa.UniqueConstraint('domain', name=op.f('uq_identity_provider_domains_domain'))
    )
    op.create_index(op.f('ix_identity_provider_domains_provider_id'), 'identity_provider_domains', ['provider_id'], unique=False)
    op.create_table('sso_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['provider_id'], ['identity_providers.id'], name=op.f('fk_sso_identities_provider_id_identity_providers')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sso_identities_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_identities')),
    sa.UniqueConstraint('provider_id', 'subject', name=op.f('uq_sso_identities_provider_id_subject'))
    )
    op.create_index(op.f('ix_sso_identities_user_id'), 'sso_identities', ['user_id'], unique=False)
    op.create_table('sso_flows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=100), nullable=False),
    sa.Column('code_verifier', sa.String(length=128), nullable=False),
    sa.Column('next_path', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['identity_providers.id'], name=op.f('fk_sso_flows_provider_id_identity_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_flows')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_sso_flows_state_hash'))
    )
    op.create_index(op.f('ix_sso_flows_expires_at'), 'sso_flows', ['expires_at'], unique=False)
    op.create_index(op.f('ix_sso_flows_provider_id'), 'sso_flows', ['provider_id'], unique=False)
    op.create_table('sso_logins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login_token_hash', sa.String(length=64), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('id_token', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['identity_providers.id'], name=op.f('fk_sso_logins_provider_id_identity_providers')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sso_logins_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_logins')),
    sa.UniqueConstraint('login_token_hash', name=op.f('uq_sso_logins_login_token_hash'))
    )
    op.create_index(op.f('ix_sso_logins_expires_at'), 'sso_logins', ['expires_at'], unique=False)
    op.create_index(op.f('ix_sso_logins_provider_id'), 'sso_logins', ['provider_id'], unique=False)
    op.create_index(op.f('ix_sso_logins_user_id'), 'sso_logins', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sso_logins_user_id'), table_name='sso_logins')
    op.drop_index(op.f('ix_sso_logins_provider_id'), table_name='sso_logins')
    op.drop_index(op.f('ix_sso_logins_expires_at'), table_name='sso_logins')
    op.drop_table('sso_logins')
    op.drop_index(op.f('ix_sso_flows_provider_id'), table_name='sso_flows')
    op.drop_index(op.f('ix_sso_flows_expires_at'), table_name='sso_flows')
    op.drop_table('sso_flows')
    op.drop_index(op.f('ix_sso_identities_user_id'), table_name='sso_identities')
    op.drop_table('sso_identities')
    op.drop_index(op.f('ix_identity_provider_domains_provider_id'), table_name='identity_provider_domains')
    op.drop_table('identity_provider_domains')
    op.drop_table('identity_providers')
