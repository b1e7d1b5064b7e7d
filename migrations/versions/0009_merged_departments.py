"""merged departments

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:56:35.954281
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


FK_NAME = "fk_departments_merged_into_id_departments"


def upgrade() -> None:
    # SQLite takes the reference inline with ADD COLUMN; a batch rebuild of departments would
    # have to drop a table that users reference.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE departments ADD COLUMN merged_into_id INTEGER "
            f"CONSTRAINT {FK_NAME} REFERENCES departments (id)"
        )
    else:
        op.add_column("departments", sa.Column("merged_into_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FK_NAME, "departments", "departments", ["merged_into_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("departments") as batch_op:
            batch_op.drop_column("merged_into_id")
    else:
        op.drop_constraint(FK_NAME, "departments", type_="foreignkey")
        op.drop_column("departments", "merged_into_id")
