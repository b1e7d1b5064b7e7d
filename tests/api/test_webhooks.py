"""Outgoing webhooks: found in the tables, queued once, signed, retried, never replayed."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms import create_app
from lms.config import Settings
from lms.db import Database
from lms.integrations import webhooks
from lms.people import crypto
from lms.reminders.models import OutboxMessage, OutboxStatus
from tests.company import Company, complete
from tests.http_stub import Reply, Seen, Stub


class Receiver(Stub):
    """A local HTTP endpoint that records deliveries and answers with `status` (and a
    redirect to `location`, and `reply` as the body, when set)."""

    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        self.location: str | None = None  # answer with a redirect there
        self.reply = b""
        self.url = self.address("/hooks")
        self.answer = lambda seen: Reply(
            self.status, self.reply, {"Location": self.location} if self.location else {}
        )

    @property
    def received(self) -> list[Seen]:
        return self.requests

    def events(self) -> list[str]:
        return [json.loads(r.body)["event"] for r in self.received if r.method == "POST"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def register(app: Flask, session: Session, **details: Any) -> tuple[Any, str]:
    """An endpoint registered as the admin page does it outside production (http allowed)."""
    return webhooks.register(session, keys=str(app.secret_key), allow_http=True, **details)


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (the README shows the same): recompute and compare in constant time."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


def _run(app: Flask, database: Database, now: datetime) -> str:
    from lms.reminders.jobs import JobContext

    with app.app_context():
        context = JobContext(
            app.extensions["lms.settings"],
            database,
            app.extensions["lms.mailer"],
            now,
            lambda: False,
        )
        return webhooks.run(context)


def test_registration_checks_url_and_events(session: Session, now: datetime) -> None:
    with pytest.raises(webhooks.BadEndpoint):
        webhooks.register(
            session, url="ftp://example.test/x", events=["attestation.signed"], now=now, keys="k"
        )
    with pytest.raises(webhooks.BadEndpoint):
        webhooks.register(
            session, url="https://example.test/x", events=["coffee.ready"], now=now, keys="k"
        )


def test_a_signed_attestation_is_delivered_once_and_signed(
    app: Flask,
    database: Database,
    session: Session,
    company: Company,
    receiver: Receiver,
    now: datetime,
) -> None:
    endpoint, secret = register(
        app, session, url=receiver.url, events=["attestation.signed", "course.completed"], now=now
    )
    assert secret not in endpoint.secret_encrypted
    assert crypto.decrypt(str(app.secret_key), endpoint.secret_encrypted) == secret
    complete(session, company.a2, company.course, now)
    session.commit()
    _run(app, database, now)
    _run(app, database, now + timedelta(minutes=1))  # again: nothing new, nothing twice
    assert sorted(receiver.events()) == ["attestation.signed", "course.completed"]
    delivery = receiver.received[0]
    assert verify(secret, delivery.headers["Vern-Signature"], delivery.body)
    assert not verify("wrong-secret", delivery.headers["Vern-Signature"], delivery.body)
    body = json.loads(delivery.body)
    assert body["data"]["person"]["email"] == company.a2.email
    assert body["data"]["versionSha256"] == company.course.sha256
    assert delivery.headers["Vern-Event"] == body["event"]


def test_history_before_registration_is_not_replayed(
    app: Flask,
    database: Database,
    session: Session,
    company: Company,
    receiver: Receiver,
    now: datetime,
) -> None:
    register(app, session, url=receiver.url, events=["attestation.signed"], now=now)
    session.commit()  # a1 and b1 signed before the endpoint existed
    _run(app, database, now)
    assert receiver.received == []


def _first_delivery_answered(
    app: Flask,
    database: Database,
    session: Session,
    company: Company,
    receiver: Receiver,
    now: datetime,
    *,
    status: int,
) -> OutboxMessage:
    """One attestation.signed event, whose first delivery the receiver answers with `status`."""
    register(app, session, url=receiver.url, events=["attestation.signed"], now=now)
    complete(session, company.a2, company.course, now)
    session.commit()
    receiver.status = status
    _run(app, database, now)
    session.expire_all()
    return session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")).one()


def test_a_receiver_that_is_down_gets_it_later_exactly_once(
    app: Flask,
    database: Database,
    session: Session,
    company: Company,
    receiver: Receiver,
    now: datetime,
) -> None:
    row = _first_delivery_answered(app, database, session, company, receiver, now, status=503)
    assert (row.status, row.attempts, row.last_error) == (
        OutboxStatus.PENDING,
        1,
        "HTTP 503 Service Unavailable",
    )
    receiver.status = 200
    _run(app, database, now + timedelta(seconds=30))  # still backing off
    assert len(receiver.received) == 1
    _run(app, database, now + timedelta(minutes=2))
    assert len(receiver.received) == 2  # the failed try and the delivery
    session.expire_all()
    assert session.get(OutboxMessage, row.id).status == OutboxStatus.SENT  # type: ignore[union-attr]


def test_gone_stops_retrying(
    app: Flask,
    database: Database,
    session: Session,
    company: Company,
    receiver: Receiver,
    now: datetime,
) -> None:
    row = _first_delivery_answered(app, database, session, company, receiver, now, status=410)
    assert row.status == OutboxStatus.DEAD


def test_overdue_and_onboarding_complete_events(
    app: Flask,
    database: Database,
    session: Session,
    company: Company,
    receiver: Receiver,
    now: datetime,
) -> None:
    register(
        app,
        session,
        url=receiver.url,
        events=["assignment.overdue", "person.onboarding_complete"],
        now=now,
    )
    session.commit()
    just_after_due = company.start + timedelta(days=31)
    _run(app, database, just_after_due)
    overdue = [json.loads(r.body) for r in receiver.received]
    assert {o["event"] for o in overdue} == {"assignment.overdue"}
    assert {o["data"]["person"]["email"] for o in overdue} >= {company.a2.email}
    receiver.received.clear()
    complete(session, company.a2, company.course, now)
    complete(session, company.a2, company.extra, now)
    session.commit()
    _run(app, database, now)
    assert "person.onboarding_complete" in receiver.events()


def test_webhooks_from_the_command_line(app: Flask, receiver: Receiver) -> None:
    runner = app.test_cli_runner()
    added = runner.invoke(
        args=["lms", "webhooks", "add", receiver.url, "--event", "attestation.signed"]
    )
    assert added.exit_code == 0, added.output
    assert "signing secret (shown once): whsec_" in added.output
    assert receiver.url in runner.invoke(args=["lms", "webhooks", "list"]).output
    assert runner.invoke(args=["lms", "webhooks", "remove", "1"]).exit_code in (0, 1)
    assert runner.invoke(args=["lms", "webhooks", "add", "ftp://x"]).exit_code != 0


@pytest.mark.parametrize("where", ["loopback", "metadata"])
def test_a_webhook_to_loopback_or_the_metadata_address_is_refused_and_nothing_is_sent(
    settings: Settings,
    database: Database,
    session: Session,
    company: Company,
    receiver: Receiver,
    now: datetime,
    where: str,
) -> None:
    # The operator allows no internal host (the production default).
    app = create_app(settings.with_overrides(outbound_allow=()), database=database)
    url = receiver.url if where == "loopback" else "http://169.254.169.254/latest/meta-data/"
    register(app, session, url=url, events=["attestation.signed"], now=now)
    complete(session, company.a2, company.course, now)
    session.commit()
    _run(app, database, now)
    session.expire_all()
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")).one()
    assert row.status == OutboxStatus.PENDING
    assert "not a public address" in str(row.last_error)
    assert receiver.received == []


def test_a_redirect_is_not_followed_and_the_reply_is_not_kept(
    app: Flask,
    database: Database,
    session: Session,
    company: Company,
    receiver: Receiver,
    now: datetime,
) -> None:
    receiver.location = "/latest/meta-data/iam/security-credentials/"
    receiver.reply = b"<html>internal admin console</html>"
    row = _first_delivery_answered(app, database, session, company, receiver, now, status=307)
    # One POST, and no GET to the metadata path after it.
    assert [(r.method, r.path) for r in receiver.received] == [("POST", "/hooks")]
    assert row.status == OutboxStatus.PENDING
    assert row.last_error == "HTTP 307 Temporary Redirect"


def test_production_registers_https_webhooks_only(
    settings: Settings, database: Database, session: Session
) -> None:
    production = create_app(
        settings.with_overrides(env="production", secret_key="k" * 40), database=database
    )
    runner = production.test_cli_runner()
    refused = runner.invoke(args=["lms", "webhooks", "add", "http://hooks.example.com/x"])
    assert refused.exit_code != 0
    assert "https://" in refused.output
    added = runner.invoke(args=["lms", "webhooks", "add", "https://hooks.example.com/x"])
    assert added.exit_code == 0, added.output
    assert session.scalars(select(webhooks.WebhookEndpoint.url)).all() == [
        "https://hooks.example.com/x"
    ]
