"""Outgoing webhooks: events found in the tables, delivered through the outbox, signed.

The database is the truth here too: a job reads what happened (new attestations, cycles that
became overdue, people whose onboarding is complete) and writes one outbox row per
(endpoint, event, subject) under a unique key, so running it twice, late or on two hosts
sends nothing twice. Delivery is an HTTP POST signed with the endpoint's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lms.clock import iso_utc
from lms.db import Base, Database, UTCDateTime
from lms.people import crypto, outbound
from lms.people.models import User
from lms.people.outbound import Policy
from lms.reminders import delivery, outbox
from lms.reminders.delivery import DeliveryFailed, NotWanted
from lms.reminders.jobs import JobContext
from lms.reminders.models import OutboxMessage
from lms.training.exemptions import exempt_now
from lms.training.models import Assignment, Attestation

EVENTS = (
    "attestation.signed",
    "course.completed",
    "assignment.overdue",
    "person.onboarding_complete",
)
OVERDUE_WINDOW = timedelta(days=7)  # cycles that turned overdue this recently are reported
AGENT = "Vern-Webhooks/1"


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    # The HMAC needs the secret itself, so it is kept encrypted (lms.people.crypto), not
    # hashed. Shown once at registration, like a token.
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Attestations up to this id existed before the endpoint did: no history is replayed.
    after_attestation_id: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class BadEndpoint(ValueError):
    pass


def register(
    session: Session,
    *,
    url: str,
    events: list[str],
    now: datetime,
    keys: crypto.Keys,
    allow_http: bool = False,
    created_by_id: int | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its fresh signing secret (to show once); only events from now on are
    sent to it. Plain http only where allowed (never in production)."""
    if not url.startswith(("https://", "http://") if allow_http else "https://") or len(url) > 500:
        raise BadEndpoint("the URL must start with https://")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise BadEndpoint(f"events must be some of {', '.join(EVENTS)}; unknown: {unknown}")
    newest = session.scalar(select(func.max(Attestation.id))) or 0
    secret = "whsec_" + secrets.token_urlsafe(24)
    endpoint = WebhookEndpoint(
        url=url,
        secret_encrypted=crypto.encrypt(keys, secret),
        events=sorted(set(events)),
        active=True,
        created_at=now,
        after_attestation_id=newest,
        created_by_id=created_by_id,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def remove(session: Session, endpoint_id: int) -> bool:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not endpoint.active:
        return False
    endpoint.active = False
    session.flush()
    return True


def overview(session: Session) -> list[tuple[WebhookEndpoint, int, int]]:
    """Each endpoint with how many deliveries succeeded and how many failed for good."""
    counts: dict[tuple[int, str], int] = {}
    for payload, status in session.execute(
        select(OutboxMessage.payload, OutboxMessage.status).where(OutboxMessage.kind == "webhook")
    ):
        key = (int(payload["endpoint_id"]), str(status))
        counts[key] = counts.get(key, 0) + 1
    return [
        (e, counts.get((e.id, "sent"), 0), counts.get((e.id, "dead"), 0))
        for e in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
    ]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`Vern-Signature` header: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _enqueue(
    session: Session,
    endpoint: WebhookEndpoint,
    event: str,
    subject: str,
    data: dict[str, Any],
    now: datetime,
    domain: str,
) -> int:
    return int(
        outbox.enqueue(
            session,
            key=f"webhook:{endpoint.id}:{event}:{subject}",
            kind="webhook",
            payload={"endpoint_id": endpoint.id, "event": event, "data": data},
            now=now,
            domain=domain,
        )
    )


def _attestation_data(attestation: Attestation, user: User) -> dict[str, Any]:
    return {
        "person": {"externalId": user.external_id, "email": user.email},
        "course": attestation.course_key,
        "versionSha256": attestation.version_sha256,
        "score": attestation.score_percent,
        "signedAt": iso_utc(attestation.signed_at),
    }


def find_events(session: Session, now: datetime, *, domain: str) -> int:
    """Write the outbox rows for everything that happened that endpoints want to hear about."""
    endpoints = list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active)))
    if not endpoints:
        return 0
    written = 0
    oldest = min(e.after_attestation_id for e in endpoints)
    signed = session.execute(
        select(Attestation, User)
        .join(User, User.id == Attestation.user_id)
        .where(Attestation.id > oldest, Attestation.signed_at >= now - OVERDUE_WINDOW)
        .order_by(Attestation.id)
    ).all()
    for attestation, user in signed:
        data = _attestation_data(attestation, user)
        for endpoint in endpoints:
            if attestation.id <= endpoint.after_attestation_id:
                continue
            for event in ("attestation.signed", "course.completed"):
                if event in endpoint.events:
                    written += _enqueue(
                        session, endpoint, event, str(attestation.id), data, now, domain
                    )
    written += _overdue(session, endpoints, now, domain)
    written += _onboarding_complete(session, endpoints, signed, now, domain)
    return written


def _overdue(session: Session, endpoints: list[WebhookEndpoint], now: datetime, domain: str) -> int:
    wanted = [e for e in endpoints if "assignment.overdue" in e.events]
    if not wanted:
        return 0
    today = now.date()
    rows = session.execute(
        select(Assignment, User)
        .join(User, User.id == Assignment.user_id)
        .where(
            Assignment.due_on < today,
            Assignment.due_on >= today - OVERDUE_WINDOW,
            Assignment.completed_at.is_(None),
            Assignment.superseded_at.is_(None),
            Assignment.ended_at.is_(None),
            User.active.is_(True),
            ~exempt_now(),
        )
    ).all()
    written = 0
    for assignment, user in rows:
        data = {
            "person": {"externalId": user.external_id, "email": user.email},
            "course": assignment.course_version.definition.key,
            "cycle": assignment.cycle,
            "dueOn": assignment.due_on.isoformat(),
        }
        for endpoint in wanted:
            written += _enqueue(
                session, endpoint, "assignment.overdue", str(assignment.id), data, now, domain
            )
    return written


def _onboarding_complete(
    session: Session,
    endpoints: list[WebhookEndpoint],
    signed: Sequence[Any],
    now: datetime,
    domain: str,
) -> int:
    wanted = [e for e in endpoints if "person.onboarding_complete" in e.events]
    written = 0
    for user in {user.id: user for _, user in signed}.values() if wanted else []:
        still_open = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.user_id == user.id,
                Assignment.completed_at.is_(None),
                Assignment.superseded_at.is_(None),
                Assignment.ended_at.is_(None),
                # An exemption does not complete a course, but it does not hold up the
                # rest of onboarding either.
                ~exempt_now(),
            )
        )
        if still_open:
            continue
        data = {
            "person": {"externalId": user.external_id, "email": user.email},
            "completedAt": iso_utc(now),
        }
        for endpoint in wanted:
            written += _enqueue(
                session, endpoint, "person.onboarding_complete", str(user.id), data, now, domain
            )
    return written


def deliver(
    endpoint: WebhookEndpoint,
    message: OutboxMessage,
    now: datetime,
    *,
    policy: Policy,
    keys: crypto.Keys,
) -> None:
    """POST the event under the outbound policy; any 2xx is delivered. 410 Gone stops
    retries; the rest back off. A redirect is not followed (it is a failure), and what the
    receiver answered is never kept, only its status."""
    try:
        secret = crypto.decrypt(keys, endpoint.secret_encrypted)
    except crypto.SecretUnreadable:
        raise DeliveryFailed("signing secret unreadable: was the secret key changed?") from None
    body = json.dumps(
        {
            "id": message.message_id.strip("<>"),
            "event": message.payload["event"],
            "createdAt": iso_utc(message.created_at),
            "data": message.payload["data"],
        },
        sort_keys=True,
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Vern-Event": message.payload["event"],
        "Vern-Delivery": message.message_id.strip("<>"),
        "Vern-Signature": signature(secret, int(now.timestamp()), body),
    }
    try:
        with (
            policy.session(AGENT) as http,
            http.post(endpoint.url, data=body, headers=headers, stream=True) as response,
        ):
            status = response.status_code
            reason = outbound.status_reason(response)
    except (outbound.OutboundError, requests.RequestException) as error:
        raise DeliveryFailed(f"cannot reach {endpoint.url}: {outbound.failure(error)}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(reason, permanent=status == 410)


def deliver_due(
    database: Database, now: datetime, *, policy: Policy, keys: crypto.Keys, limit: int = 200
) -> str:
    """Deliver the due webhook rows (see lms.reminders.delivery)."""
    with database.transaction() as session:
        endpoints = {e.id: e for e in session.scalars(select(WebhookEndpoint))}

    def send(message: OutboxMessage) -> None:
        endpoint = endpoints.get(message.payload["endpoint_id"])
        if endpoint is None or not endpoint.active:
            raise NotWanted("endpoint removed")
        deliver(endpoint, message, now, policy=policy, keys=keys)

    delivered, failed = delivery.deliver_due(database, now, kind="webhook", send=send, limit=limit)
    return f"delivered {delivered}, failed {failed}"


def run(context: JobContext) -> str:
    """The `webhooks` job: find events, then deliver what is due."""
    with context.database.transaction() as session:
        found = find_events(session, context.now, domain=context.settings.mail_domain)
    policy = Policy.from_settings(context.settings)
    return f"events queued {found}, " + deliver_due(
        context.database, context.now, policy=policy, keys=crypto.current_keys()
    )
