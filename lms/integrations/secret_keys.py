"""Rotating the key stored secrets are encrypted under (`lms secrets rotate`): identity
providers' client secrets, webhook signing secrets, LRS passwords and the LTI tool's key.

The procedure (docs/deploy.md): set the new LMS_SECRET_KEY, put the old one in
LMS_OLD_SECRET_KEYS, restart, run `lms secrets rotate`, then drop the old key. Until the
rotation, secrets under the old key still open (crypto decrypts with any key of the ring)."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms import clock
from lms.audit.service import record
from lms.db import Base
from lms.extensions import database
from lms.integrations.lti.models import LtiToolKey
from lms.integrations.webhooks import WebhookEndpoint
from lms.integrations.xapi.models import LrsEndpoint
from lms.people import crypto
from lms.people.sso.models import IdentityProvider

# Every table holding a secret Vern must be able to read back, and its column.
STORED: tuple[tuple[type[Base], str], ...] = (
    (IdentityProvider, "client_secret_encrypted"),
    (WebhookEndpoint, "secret_encrypted"),
    (LrsEndpoint, "password_encrypted"),
    (LtiToolKey, "private_pem_encrypted"),
)


class Unreadable(Exception):
    """A stored secret none of the keys opens: the table and row, to name to the operator."""

    def __init__(self, table: str, row_id: int) -> None:
        super().__init__(f"{table} {row_id}")
        self.table = table
        self.row_id = row_id


def rotate(session: Session, keys: crypto.Keys, now: datetime) -> dict[str, int]:
    """Encrypt every stored secret again under the first (current) key; how many per table.
    Unreadable names the first secret no key opens, and the caller rolls everything back."""
    counts: dict[str, int] = {}
    for model, column in STORED:
        table = str(model.__tablename__)
        counts[table] = 0
        for row in session.scalars(select(model)):
            try:
                setattr(row, column, crypto.rotate(keys, getattr(row, column)))
            except crypto.SecretUnreadable:
                raise Unreadable(table, int(row.id)) from None  # type: ignore[attr-defined]
            counts[table] += 1
    session.flush()
    record(session, action="secrets.rotate", now=now, via="cli", re_encrypted=counts)
    return counts


secrets_group = AppGroup("secrets", help="Stored secrets, encrypted under LMS_SECRET_KEY.")


@secrets_group.command("rotate")
def rotate_command() -> None:
    """Encrypt every stored secret again under the current LMS_SECRET_KEY (old keys from
    LMS_OLD_SECRET_KEYS open them); nothing changes if one cannot be opened."""
    try:
        with database().transaction() as session:
            counts = rotate(session, crypto.current_keys(), clock.now())
    except Unreadable as unreadable:
        raise click.ClickException(
            f"the secret of {unreadable.table} {unreadable.row_id} opens under no key given "
            "(LMS_SECRET_KEY, LMS_OLD_SECRET_KEYS); nothing was changed"
        ) from None
    for table, count in counts.items():
        click.echo(f"{table}: {count} re-encrypted")
