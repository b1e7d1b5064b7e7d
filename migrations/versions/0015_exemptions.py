"""exemptions from a course cycle; tallies count the exempt

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_exemptions_assignment_id_assignments")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_exemptions_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_exemptions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemptions")),
    )
    op.create_index(
        "ix_exemptions_assignment_ended", "exemptions", ["assignment_id", "ended_at"], unique=False
    )
    op.create_index(op.f("ix_exemptions_expires_on"), "exemptions", ["expires_on"], unique=False)
    op.create_index(op.f("ix_exemptions_user_id"), "exemptions", ["user_id"], unique=False)
    op.add_column(
        "tally_snapshots",
        sa.Column("exempt", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("tally_snapshots") as batch_op:
        batch_op.drop_column("exempt")
    op.drop_index(op.f("ix_exemptions_user_id"), table_name="exemptions")
    op.drop_index(op.f("ix_exemptions_expires_on"), table_name="exemptions")
    op.drop_index("ix_exemptions_assignment_ended", table_name="exemptions")
    op.drop_table("exemptions")
