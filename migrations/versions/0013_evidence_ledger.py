"""the evidence ledger: subjects, entries, their personal fields, signed checkpoints

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

APPEND_ONLY = ("ledger_entries", "ledger_checkpoints")


def upgrade() -> None:
    op.create_table(
        "ledger_subjects",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=36), nullable=False),
        sa.Column("digest_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ledger_subjects_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_ledger_subjects")),
        sa.UniqueConstraint("ref", name=op.f("uq_ledger_subjects_ref")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("person_ref", sa.String(length=36), nullable=False),
        sa.Column("course_key", sa.String(length=64), nullable=False),
        sa.Column("version_sha256", sa.String(length=64), nullable=False),
        sa.Column("statement_sha256", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record", sa.String(length=64), nullable=False),
        sa.Column("personal_digest", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("hash", name=op.f("uq_ledger_entries_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_ledger_entries_prev_hash")),
    )
    op.create_index(
        op.f("ix_ledger_entries_person_ref"), "ledger_entries", ["person_ref"], unique=False
    )
    op.create_index(op.f("ix_ledger_entries_record"), "ledger_entries", ["record"], unique=False)
    op.create_table(
        "ledger_personal",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("typed_name", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["seq"], ["ledger_entries.seq"], name=op.f("fk_ledger_personal_seq_ledger_entries")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_personal")),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in APPEND_ONLY:
        if sqlite:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
                )
        else:
            # vern_refuse_change() comes from revision 0001.
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION vern_refuse_change()"
            )


def downgrade() -> None:
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_personal")
    op.drop_index(op.f("ix_ledger_entries_record"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_person_ref"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_subjects")
