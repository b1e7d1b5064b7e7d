"""Rotating the secret key: `lms secrets rotate` re-encrypts every stored secret under the new
LMS_SECRET_KEY while LMS_OLD_SECRET_KEYS still opens the old ones, and changes nothing if a
secret opens under no key."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms import create_app
from lms.audit.models import AuditEvent
from lms.config import Settings
from lms.db import Database
from lms.integrations import webhooks
from lms.integrations.lti import keys
from lms.integrations.lti.models import LtiToolKey
from lms.integrations.secret_keys import STORED
from lms.integrations.xapi import service as xapi
from lms.people import crypto
from lms.people.sso import service as sso
from tests.unit.people.test_sso_service import DISCOVERY

OLD = "the-old-secret-key-" + "o" * 32
NEW = "the-new-secret-key-" + "n" * 32


def _secrets_under(session: Session, key: str, now: datetime) -> None:
    """One secret of every kind, encrypted under `key`."""
    details = sso.ProviderDetails(
        name="contoso",
        display_name="Contoso",
        discovery_url="https://login.example.com/.well-known/openid-configuration",
        client_id="vern",
        client_secret="client-secret",
        domains=["contoso.com"],
    )
    sso.register(session, details, discovery=DISCOVERY, key_set=None, secret_key=key, now=now)
    webhooks.register(
        session, url="https://hr.example.com/hook", events=["attestation.signed"], now=now, keys=key
    )
    xapi.register(
        session, name="LRS", url="https://lrs.example.com/xAPI/", username="vern",
        password="lrs-password", send_email=False, now=now, keys=key,
    )  # fmt: skip
    keys.ensure_key(session, now, key)
    session.commit()


def _stored(session: Session) -> list[str]:
    session.expire_all()
    return [
        str(getattr(row, column))
        for model, column in STORED
        for row in session.scalars(select(model))
    ]


def _app(settings: Settings, database: Database, **changes: object) -> Flask:
    return create_app(settings.with_overrides(**changes), database=database)


def test_rotation_re_encrypts_every_secret_under_the_new_key(
    settings: Settings, database: Database, session: Session, now: datetime
) -> None:
    _secrets_under(session, OLD, now)
    before = _stored(session)
    app = _app(settings, database, secret_key=NEW, old_secret_keys=(OLD,))
    result = app.test_cli_runner().invoke(args=["lms", "secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "webhook_endpoints: 1 re-encrypted" in result.output
    after = _stored(session)
    assert len(after) == len(STORED)
    # Every secret opens under the new key alone, and is what it was.
    assert [crypto.decrypt(NEW, value) for value in after] == [
        crypto.decrypt(OLD, value) for value in before
    ]
    tool_key = session.scalars(select(LtiToolKey)).one()
    assert "PRIVATE KEY" in keys.private_pem(tool_key, NEW)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "secrets.rotate")).one()
    assert event.detail["re_encrypted"]["lrs_endpoints"] == 1


def test_a_secret_no_key_opens_stops_the_rotation_and_changes_nothing(
    settings: Settings, database: Database, session: Session, now: datetime
) -> None:
    _secrets_under(session, OLD, now)
    before = _stored(session)
    app = _app(settings, database, secret_key=NEW)  # the old key was not kept
    result = app.test_cli_runner().invoke(args=["lms", "secrets", "rotate"])
    assert result.exit_code != 0
    assert "identity_providers" in result.output
    assert "nothing was changed" in result.output
    assert _stored(session) == before


def test_old_keys_still_open_secrets_before_the_rotation(
    settings: Settings, database: Database, session: Session, now: datetime
) -> None:
    _secrets_under(session, OLD, now)
    app = _app(settings, database, secret_key=NEW, old_secret_keys=(OLD,))
    with app.app_context():
        ring = crypto.current_keys()
    assert ring == (NEW, OLD)
    for value in _stored(session):
        crypto.decrypt(ring, value)  # opens: raises SecretUnreadable otherwise
    assert Settings.from_env({"LMS_OLD_SECRET_KEYS": f"{OLD}, {NEW}"}).old_secret_keys == (
        OLD,
        NEW,
    )
