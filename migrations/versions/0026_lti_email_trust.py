"""LTI: platforms an admin trusts to match people by email; audit failures counted per window

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every platform registered before starts untrusted: until an admin says otherwise, a
    # launch no longer finds an account by the email the platform asserts (links made before
    # stay, and an admin, HR or auditor account is never signed in through a launch).
    with op.batch_alter_table("lti_platforms") as batch_op:
        batch_op.add_column(
            sa.Column("matches_by_email", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Unauthenticated failures are counted in this window's row of their action and source.
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_action_at", table_name="audit_events")
    with op.batch_alter_table("lti_platforms") as batch_op:
        batch_op.drop_column("matches_by_email")
