"""SCIM: what identity providers send that Vern reads back as sent

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The startDate instant, locale and timezone a provider sent, read back as sent; the
    # date, language and time zone Vern works with stay in users.
    op.create_table(
        "scim_user_details",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locale", sa.String(length=64), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_scim_user_details_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_scim_user_details")),
    )


def downgrade() -> None:
    op.drop_table("scim_user_details")
