"""instructor-led live sessions, their seats, and cycles completed by attending one

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("instructor", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_live_sessions_course_id_courses")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_live_sessions_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_sessions")),
    )
    op.create_index(op.f("ix_live_sessions_course_id"), "live_sessions", ["course_id"])
    op.create_index(op.f("ix_live_sessions_starts_at"), "live_sessions", ["starts_at"])
    op.create_table(
        "live_seats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("signed_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_live_seats_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["live_sessions.id"], name=op.f("fk_live_seats_session_id_live_sessions")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_live_seats_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_seats")),
        sa.UniqueConstraint("session_id", "user_id", name=op.f("uq_live_seats_session_id_user_id")),
    )
    op.create_index(op.f("ix_live_seats_user_id"), "live_seats", ["user_id"])
    op.add_column("assignments", sa.Column("completed_via", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_column("completed_via")
    op.drop_index(op.f("ix_live_seats_user_id"), table_name="live_seats")
    op.drop_table("live_seats")
    op.drop_index(op.f("ix_live_sessions_starts_at"), table_name="live_sessions")
    op.drop_index(op.f("ix_live_sessions_course_id"), table_name="live_sessions")
    op.drop_table("live_sessions")
