"""Evidence bound to the ledger: evidence lines in entries, one chain, append-only guards

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 21:00:00

Entries made from now on carry `evidence`, a line of every field their record shows
(lms.evidence.binding). Entries made before keep their hashes as they were made (hashed without
the field), and `lms ledger verify` checks their records against the columns they do hold.

The other evidence tables get the guard attestations have had since 0001: a graded quiz attempt
and an attended seat never change or go; an exemption changes once, when it ends; a live
session only when cancelled; the personal fields kept apart are never changed (erasure deletes
them). The models refuse the same (lms.db.Sealed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# table: (when an UPDATE is refused, when a DELETE is refused, the columns that never change);
# "{same}" stands for "every column in the last list is unchanged".
GUARDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "quiz_attempts": ("OLD.submitted_at IS NOT NULL", "OLD.submitted_at IS NOT NULL", ()),
    "live_seats": ("OLD.attended_at IS NOT NULL", "OLD.attended_at IS NOT NULL", ()),
    "exemptions": (
        "OLD.ended_at IS NOT NULL OR NOT ({same})",
        "TRUE",
        ("id", "assignment_id", "user_id", "reason", "expires_on", "created_at", "created_by_id"),
    ),
    "live_sessions": (
        "NOT ({same})",
        "TRUE",
        (
            "id",
            "course_id",
            "starts_at",
            "minutes",
            "place",
            "instructor",
            "created_at",
            "created_by_id",
        ),
    ),  # fmt: skip
    "ledger_personal": ("TRUE", "FALSE", ()),
}


def _condition(template: str, columns: tuple[str, ...], sqlite: bool) -> str:
    equal = "IS" if sqlite else "IS NOT DISTINCT FROM"
    same = " AND ".join(f"NEW.{column} {equal} OLD.{column}" for column in columns)
    condition = template.format(same=same)
    return condition.replace("TRUE", "1").replace("FALSE", "0") if sqlite else condition


def _guard(table: str, sqlite: bool) -> None:
    update, delete, columns = GUARDS[table]
    message = f"{table} are evidence: this change is refused"
    if sqlite:
        for action, when in (("update", update), ("delete", delete)):
            if when == "FALSE":
                continue
            op.execute(
                f"CREATE TRIGGER {table}_guard_{action} BEFORE {action.upper()} ON {table} "
                f"WHEN {_condition(when, columns, sqlite)} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        return
    op.execute(
        f"CREATE OR REPLACE FUNCTION vern_guard_{table}() RETURNS trigger AS $$ BEGIN "
        f"IF TG_OP = 'DELETE' THEN IF {_condition(delete, columns, sqlite)} THEN "
        f"RAISE EXCEPTION '{message}'; END IF; RETURN OLD; END IF; "
        f"IF {_condition(update, columns, sqlite)} THEN RAISE EXCEPTION '{message}'; END IF; "
        "RETURN NEW; END; $$ LANGUAGE plpgsql"
    )
    op.execute(
        f"CREATE TRIGGER {table}_guard BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION vern_guard_{table}()"
    )


def _unguard(table: str, sqlite: bool) -> None:
    if sqlite:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_guard_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_guard_delete")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_guard ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS vern_guard_{table}()")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # A plain ADD COLUMN on both databases: SQLite keeps the table, and so its triggers.
    op.add_column("ledger_entries", sa.Column("evidence", sa.Text(), nullable=True))
    for table in GUARDS:
        _guard(table, sqlite)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in GUARDS:
        _unguard(table, sqlite)
    # Not through a batch (which would rebuild the table and drop its append-only triggers).
    op.execute("ALTER TABLE ledger_entries DROP COLUMN evidence")
