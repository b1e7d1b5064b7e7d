"""what SCIM provisioning keeps: user names, name parts, employee numbers, deletions

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

USER_COLUMNS = (
    ("updated_at", sa.DateTime(timezone=True)),
    ("scim_user_name", sa.String(255)),
    ("formatted_name", sa.String(200)),
    ("given_name", sa.String(100)),
    ("family_name", sa.String(100)),
    ("display_name", sa.String(200)),
    ("email_type", sa.String(32)),
    ("email_primary", sa.Boolean()),
    ("preferred_language", sa.String(64)),
    ("employee_number", sa.String(64)),
    ("scim_deleted_at", sa.DateTime(timezone=True)),
)
DEPARTMENT_COLUMNS = (
    ("external_id", sa.String(255)),
    ("created_at", sa.DateTime(timezone=True)),
    ("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    for name, type_ in USER_COLUMNS:
        op.add_column("users", sa.Column(name, type_, nullable=True))
    for name, type_ in DEPARTMENT_COLUMNS:
        op.add_column("departments", sa.Column(name, type_, nullable=True))
    # Unique indexes rather than constraints: SQLite adds them without rebuilding the tables.
    op.create_index("ix_users_scim_user_name", "users", ["scim_user_name"], unique=True)
    op.create_index("ix_departments_external_id", "departments", ["external_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_departments_external_id", table_name="departments")
    op.drop_index("ix_users_scim_user_name", table_name="users")
    with op.batch_alter_table("departments") as batch_op:
        for name, _ in reversed(DEPARTMENT_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("users") as batch_op:
        for name, _ in reversed(USER_COLUMNS):
            batch_op.drop_column(name)
