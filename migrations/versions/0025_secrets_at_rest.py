"""Secrets at rest: LRS passwords, webhook secrets and the LTI tool key encrypted

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 21:00:00

Each secret is encrypted as lms.people.crypto does it (Fernet under a key derived by HKDF from
the app's secret key); the derivation is repeated here so this migration keeps meaning what it
meant when the code moves on. The keys come from the caller (`lms db upgrade` passes the
running app's) or, run bare, from the environment the way the app finds them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

INFO = b"vern sso client secret v1"
# (table, plain column, its type, encrypted column, its type)
COLUMNS = (
    (
        "webhook_endpoints",
        "secret",
        sa.String(length=100),
        "secret_encrypted",
        sa.String(length=500),
    ),
    (
        "lrs_endpoints",
        "password",
        sa.String(length=200),
        "password_encrypted",
        sa.String(length=500),
    ),
    ("lti_tool_keys", "private_pem", sa.Text(), "private_pem_encrypted", sa.Text()),
)


def _keys() -> Sequence[str]:
    given = context.config.attributes.get("secret_keys")
    if given:
        return tuple(given)
    from lms.config import Settings, development_secret_key

    settings = Settings.from_env()
    current = settings.secret_key or development_secret_key(settings.instance_path)
    return (current, *settings.old_secret_keys)


def _ring(keys: Sequence[str]) -> MultiFernet:
    def one(key: str) -> Fernet:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
            key.encode("utf-8")
        )
        return Fernet(base64.urlsafe_b64encode(derived))

    return MultiFernet([one(key) for key in keys])


def _convert(table: str, source: str, target: str, change: Callable[[str], str]) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT id, {source} FROM {table}")).all()  # noqa: S608
    for row_id, value in rows:
        connection.execute(
            sa.text(f"UPDATE {table} SET {target} = :value WHERE id = :id"),  # noqa: S608
            {"value": change(value), "id": row_id},
        )


def _public_pem(private_pem: str) -> str:
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _has_rows() -> bool:
    connection = op.get_bind()
    return any(
        connection.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first()  # noqa: S608
        for table, *_ in COLUMNS
    )


def _forget_replies() -> None:
    """An LRS's reply was kept after the status ("HTTP 400: <what the LRS said>") and shown
    on the outbox page; keep the status only."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT id, last_error FROM outbox_messages"
            " WHERE kind = 'xapi' AND last_error LIKE 'HTTP %:%'"
        )
    ).all()
    for row_id, last_error in rows:
        connection.execute(
            sa.text("UPDATE outbox_messages SET last_error = :status WHERE id = :id"),
            {"status": str(last_error).split(":", 1)[0], "id": row_id},
        )


def upgrade() -> None:
    _forget_replies()
    # The key is only looked for when there is something to encrypt.
    ring = _ring(_keys()) if _has_rows() else None
    with op.batch_alter_table("lti_tool_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_pem", sa.Text(), nullable=True))
    if ring is not None:
        _convert("lti_tool_keys", "private_pem", "public_pem", _public_pem)
    for table, plain, _plain_type, encrypted, encrypted_type in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(encrypted, encrypted_type, nullable=True))
        if ring is not None:
            _convert(
                table, plain, encrypted, lambda v, r=ring: r.encrypt(v.encode()).decode("ascii")
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(encrypted, existing_type=encrypted_type, nullable=False)
            batch_op.drop_column(plain)
    with op.batch_alter_table("lti_tool_keys", schema=None) as batch_op:
        batch_op.alter_column("public_pem", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    ring = _ring(_keys()) if _has_rows() else None
    for table, plain, plain_type, encrypted, _encrypted_type in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(plain, plain_type, nullable=True))
        if ring is not None:
            _convert(table, encrypted, plain, lambda v, r=ring: r.decrypt(v.encode()).decode())
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(plain, existing_type=plain_type, nullable=False)
            batch_op.drop_column(encrypted)
    with op.batch_alter_table("lti_tool_keys", schema=None) as batch_op:
        batch_op.drop_column("public_pem")
