"""attestations stay append-only, except that a person's personal fields can be erased

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 03:10:00
"""

from __future__ import annotations

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# Every column but the personal ones must stay as it is...
KEPT = (
    "id", "assignment_id", "user_id", "quiz_attempt_id", "course_key", "version_sha256",
    "language", "statement_sha256", "statement", "score_percent", "signed_at", "prev_hash",
    "hash", "cycle", "department",
)  # fmt: skip
# ...and the personal ones may only become empty: that is erasure, the one update allowed.
ERASED = (
    "NEW.typed_name = '' AND NEW.ip IS NULL AND NEW.user_agent IS NULL "
    "AND NEW.person_email IS NULL AND NEW.person_name IS NULL"
)
MESSAGE = "attestations are append-only; only erasing the personal fields is allowed"
OLD_SQLITE_GUARD = (
    "CREATE TRIGGER attestations_no_update BEFORE UPDATE ON attestations "
    "BEGIN SELECT RAISE(ABORT, 'attestations are append-only'); END"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        unchanged = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in KEPT)
        op.execute("DROP TRIGGER attestations_no_update")
        op.execute(
            "CREATE TRIGGER attestations_no_update BEFORE UPDATE ON attestations "
            f"WHEN NOT ({unchanged} AND {ERASED}) "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        return
    unchanged = " AND ".join(f"NEW.{column} IS NOT DISTINCT FROM OLD.{column}" for column in KEPT)
    op.execute(
        "CREATE OR REPLACE FUNCTION vern_attestation_guard() RETURNS trigger AS $$ "
        f"BEGIN IF TG_OP = 'UPDATE' AND {unchanged} AND {ERASED} THEN RETURN NEW; END IF; "
        f"RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql"
    )
    op.execute("DROP TRIGGER attestations_append_only ON attestations")
    op.execute(
        "CREATE TRIGGER attestations_append_only BEFORE UPDATE OR DELETE ON attestations "
        "FOR EACH ROW EXECUTE FUNCTION vern_attestation_guard()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER attestations_no_update")
        op.execute(OLD_SQLITE_GUARD)
        return
    op.execute("DROP TRIGGER attestations_append_only ON attestations")
    op.execute(
        "CREATE TRIGGER attestations_append_only BEFORE UPDATE OR DELETE ON attestations "
        "FOR EACH ROW EXECUTE FUNCTION vern_refuse_change()"
    )
    op.execute("DROP FUNCTION vern_attestation_guard()")
