"""Evidence bound to the ledger: evidence lines in entries, one chain, append-only guards

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 21:00:00

Entries made from now on carry `evidence`, a line of every field their record shows
(lms.evidence.binding). Entries made before keep their hashes as they were made (hashed without
the field), and `lms ledger verify` checks their records against the columns they do hold.

One chain per signature: attestations kept a hash chain of their own (never verified, and not
verifiable once erasure empties the fields it hashed) besides the ledger's. Its columns go; the
values are kept, append-only, in `attestation_chain_archive`, so a "record" hash a person noted
from their confirmation page can still be looked up. The ledger entry is the record now.

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


# Attestations: every column but the personal ones stays as it is, and those may only become
# empty (erasure). As revision 0014 had it, without the chain's columns.
KEPT = (
    "id", "assignment_id", "user_id", "quiz_attempt_id", "course_key", "version_sha256",
    "language", "statement_sha256", "statement", "score_percent", "signed_at", "cycle",
    "department",
)  # fmt: skip
CHAIN = ("prev_hash", "hash")
ERASED = (
    "NEW.typed_name = '' AND NEW.ip IS NULL AND NEW.user_agent IS NULL "
    "AND NEW.person_email IS NULL AND NEW.person_name IS NULL"
)
MESSAGE = "attestations are append-only; only erasing the personal fields is allowed"


def _attestation_guard(sqlite: bool, kept: tuple[str, ...]) -> None:
    if sqlite:
        unchanged = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in kept)
        op.execute(
            "CREATE TRIGGER attestations_no_update BEFORE UPDATE ON attestations "
            f"WHEN NOT ({unchanged} AND {ERASED}) "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        op.execute(
            "CREATE TRIGGER attestations_no_delete BEFORE DELETE ON attestations "
            "BEGIN SELECT RAISE(ABORT, 'attestations are append-only'); END"
        )
        return
    unchanged = " AND ".join(f"NEW.{column} IS NOT DISTINCT FROM OLD.{column}" for column in kept)
    op.execute(
        "CREATE OR REPLACE FUNCTION vern_attestation_guard() RETURNS trigger AS $$ "
        f"BEGIN IF TG_OP = 'UPDATE' AND {unchanged} AND {ERASED} THEN RETURN NEW; END IF; "
        f"RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql"
    )


def _archive_chain(sqlite: bool) -> None:
    op.create_table(
        "attestation_chain_archive",
        sa.Column("attestation_id", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("attestation_id", name=op.f("pk_attestation_chain_archive")),
    )
    op.execute(
        "INSERT INTO attestation_chain_archive (attestation_id, prev_hash, hash) "
        "SELECT id, prev_hash, hash FROM attestations"
    )
    if sqlite:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER attestation_chain_archive_no_{action.lower()} BEFORE {action} "
                "ON attestation_chain_archive "
                "BEGIN SELECT RAISE(ABORT, 'attestation_chain_archive is append-only'); END"
            )
        op.execute("DROP TRIGGER attestations_no_update")
        op.execute("DROP TRIGGER attestations_no_delete")
        # SQLite rebuilds the table to drop a column with a unique constraint; the rebuilt
        # table has no triggers, so they are made again below.
        with op.batch_alter_table("attestations") as batch:
            batch.drop_constraint("uq_attestations_prev_hash", type_="unique")
            batch.drop_constraint("uq_attestations_hash", type_="unique")
            batch.drop_column("hash")
            batch.drop_column("prev_hash")
    else:
        op.execute(
            "CREATE TRIGGER attestation_chain_archive_append_only BEFORE UPDATE OR DELETE "
            "ON attestation_chain_archive FOR EACH ROW EXECUTE FUNCTION vern_refuse_change()"
        )
        # The guard's function names the columns: replaced before they go.
        _attestation_guard(sqlite, KEPT)
        op.drop_column("attestations", "hash")
        op.drop_column("attestations", "prev_hash")
    if sqlite:
        _attestation_guard(sqlite, KEPT)


def _restore_chain(sqlite: bool) -> None:
    """Back to a chain of their own: archived values, and for signatures made since, their
    ledger entry's hash and link (unique, as the chain's were)."""
    fill = (
        "UPDATE attestations SET "
        "prev_hash = COALESCE((SELECT prev_hash FROM attestation_chain_archive a "
        "WHERE a.attestation_id = attestations.id), (SELECT prev_hash FROM ledger_entries e "
        "WHERE e.kind = 'attestation' AND e.record = 'attestation:' || attestations.id)), "
        "hash = COALESCE((SELECT hash FROM attestation_chain_archive a "
        "WHERE a.attestation_id = attestations.id), (SELECT hash FROM ledger_entries e "
        "WHERE e.kind = 'attestation' AND e.record = 'attestation:' || attestations.id))"
    )
    if sqlite:
        op.execute("DROP TRIGGER attestations_no_update")
        op.execute("DROP TRIGGER attestations_no_delete")
        with op.batch_alter_table("attestations") as batch:
            batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
            batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        op.execute(fill)
        with op.batch_alter_table("attestations") as batch:
            batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
            batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
            batch.create_unique_constraint("uq_attestations_prev_hash", ["prev_hash"])
            batch.create_unique_constraint("uq_attestations_hash", ["hash"])
        _attestation_guard(sqlite, (*KEPT, *CHAIN))
    else:
        op.add_column("attestations", sa.Column("prev_hash", sa.String(length=64)))
        op.add_column("attestations", sa.Column("hash", sa.String(length=64)))
        op.execute("ALTER TABLE attestations DISABLE TRIGGER attestations_append_only")
        op.execute(fill)
        op.execute("ALTER TABLE attestations ENABLE TRIGGER attestations_append_only")
        op.alter_column("attestations", "prev_hash", nullable=False)
        op.alter_column("attestations", "hash", nullable=False)
        op.create_unique_constraint("uq_attestations_prev_hash", "attestations", ["prev_hash"])
        op.create_unique_constraint("uq_attestations_hash", "attestations", ["hash"])
        _attestation_guard(sqlite, (*KEPT, *CHAIN))
    op.drop_table("attestation_chain_archive")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # A plain ADD COLUMN on both databases: SQLite keeps the table, and so its triggers.
    op.add_column("ledger_entries", sa.Column("evidence", sa.Text(), nullable=True))
    _archive_chain(sqlite)
    for table in GUARDS:
        _guard(table, sqlite)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in GUARDS:
        _unguard(table, sqlite)
    _restore_chain(sqlite)
    # Not through a batch (which would rebuild the table and drop its append-only triggers).
    op.execute("ALTER TABLE ledger_entries DROP COLUMN evidence")
