"""Connecting Learning Record Stores, finding what happened, and delivering statements.

Like webhooks: the `xapi` job reads the tables (launches, module reads, quiz attempts,
completed cycles, attestations) since each store was last read and writes one outbox row per
(store, statement) under a unique key; delivery PUTs each statement under its own id, so a
retry after a lost reply is stored once. An LRS that is down delays statements, never a person."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.catalog.models import Course, CourseVersion
from lms.db import Database
from lms.evidence.ledger import subject_for
from lms.evidence.models import LedgerSubject
from lms.integrations.lti.models import LtiLaunch
from lms.integrations.xapi import statements as xapi
from lms.integrations.xapi.models import LrsEndpoint
from lms.messages import N_
from lms.people import crypto, outbound
from lms.people.models import User
from lms.people.outbound import Policy
from lms.reminders import delivery, outbox
from lms.reminders.delivery import DeliveryFailed, NotWanted
from lms.reminders.jobs import JobContext
from lms.reminders.models import OutboxMessage
from lms.training.live_sessions import LIVE_SESSION
from lms.training.models import (
    Assignment,
    Attestation,
    LiveSeat,
    LiveSession,
    ModuleView,
    QuizAttempt,
)

KIND = "xapi"
XAPI_VERSION = "1.0.3"
AGENT = "Vern-xAPI/1"
# A row is stamped a moment before it commits; each run re-reads this far back, and the outbox's
# unique keys drop what was queued already.
OVERLAP = timedelta(minutes=10)
SLICE = timedelta(hours=1)  # history read per run at most
Statements = Iterator[dict[str, Any]]


class BadLrs(ValueError):
    """A store that cannot work: the field and a message for it (translated by the page)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- connecting ------------------------------------------------------------------------------


def register(
    session: Session,
    *,
    name: str,
    url: str,
    username: str,
    password: str,
    send_email: bool,
    now: datetime,
    keys: crypto.Keys,
    allow_http: bool = False,
    created_by_id: int | None = None,
) -> LrsEndpoint:
    if not name.strip():
        raise BadLrs("name", N_("is required"))
    parts = urlsplit(url.strip())
    if parts.scheme not in (("https", "http") if allow_http else ("https",)) or not parts.netloc:
        raise BadLrs("url", N_("must be an https:// address"))
    if not username.strip() or not password:
        raise BadLrs(
            "username", N_("the LRS's Basic authentication needs a user name and password")
        )
    endpoint = LrsEndpoint(
        name=name.strip(),
        url=url.strip().rstrip("/") + "/",
        username=username.strip(),
        password_encrypted=crypto.encrypt(keys, password),
        send_email=send_email,
        active=True,
        id_seed=str(uuid.uuid4()),
        read_until=now,  # what happens from now on; no history is replayed
        created_at=now,
        created_by_id=created_by_id,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def set_active(
    session: Session, endpoint_id: int, active: bool, now: datetime
) -> LrsEndpoint | None:
    """Switching off drops what was still queued for the store; switching on starts again
    from now, as a newly connected store would."""
    endpoint = session.get(LrsEndpoint, endpoint_id)
    if endpoint is not None:
        if active and not endpoint.active:
            endpoint.read_until = now
        endpoint.active = active
        session.flush()
    return endpoint


def endpoints(session: Session) -> list[LrsEndpoint]:
    return list(session.scalars(select(LrsEndpoint).order_by(LrsEndpoint.name, LrsEndpoint.id)))


# --- finding what happened -------------------------------------------------------------------


@dataclass
class _Reader:
    """Turns rows into statements for one store, caching people and course versions."""

    session: Session
    iris: xapi.Iris
    send_email: bool
    now: datetime

    def __post_init__(self) -> None:
        self._people: dict[int, dict[str, Any]] = {}
        self._versions: dict[int, CourseDefinition] = {}

    def know(self, user_ids: Iterable[int]) -> None:
        """Load the actors of these people in two queries (a ledger reference is made for
        someone who has none yet), not two per person."""
        missing = set(user_ids) - self._people.keys()
        if not missing:
            return
        emails = {
            user_id: email
            for user_id, email in self.session.execute(
                select(User.id, User.email).where(User.id.in_(missing))
            )
        }
        refs = {
            user_id: ref
            for user_id, ref in self.session.execute(
                select(LedgerSubject.user_id, LedgerSubject.ref).where(
                    LedgerSubject.user_id.in_(missing)
                )
            )
        }
        for user_id in missing:
            ref = refs.get(user_id) or subject_for(self.session, user_id, self.now).ref
            person = xapi.Person(ref, emails.get(user_id))
            self._people[user_id] = xapi.actor(self.iris, person, send_email=self.send_email)

    def who(self, user_id: int) -> dict[str, Any]:
        self.know((user_id,))
        return self._people[user_id]

    def course(self, version_id: int) -> tuple[CourseDefinition, xapi.CourseRef]:
        if version_id not in self._versions:
            version = self.session.get_one(CourseVersion, version_id)  # a foreign key
            self._versions[version_id] = version.definition
        definition = self._versions[version_id]
        return definition, xapi.CourseRef(definition.key, definition.sha256, dict(definition.title))


def _launches(reader: _Reader, since: datetime, until: datetime) -> Statements:
    rows = reader.session.execute(
        select(LtiLaunch, Assignment.course_version_id)
        .join(Course, Course.key == LtiLaunch.course_key)
        .join(
            Assignment,
            (Assignment.user_id == LtiLaunch.user_id)
            & (Assignment.course_id == Course.id)
            & Assignment.superseded_at.is_(None),
        )
        .where(LtiLaunch.launched_at >= since, LtiLaunch.launched_at < until)
    ).all()
    reader.know(launch.user_id for launch, _ in rows)
    for launch, version_id in rows:
        _, course = reader.course(version_id)
        yield xapi.launched(
            reader.iris, reader.who(launch.user_id), course, launch.id, launch.launched_at
        )


def _module_views(reader: _Reader, since: datetime, until: datetime) -> Statements:
    rows = reader.session.execute(
        select(ModuleView, Assignment.user_id, Assignment.course_version_id)
        .join(Assignment, Assignment.id == ModuleView.assignment_id)
        .where(ModuleView.viewed_at >= since, ModuleView.viewed_at < until)
    ).all()
    reader.know(user_id for _, user_id, _ in rows)
    for view, user_id, version_id in rows:
        definition, course = reader.course(version_id)
        module = definition.module(view.module_slug)
        title = dict(module.title) if module else {"en": view.module_slug}
        yield xapi.experienced(
            reader.iris,
            reader.who(user_id),
            course,
            view.module_slug,
            title,
            view.id,
            view.viewed_at,
        )


def _answers(definition: CourseDefinition, attempt: QuizAttempt) -> Iterator[xapi.Answer]:
    chosen = attempt.answers or {}
    for served in attempt.served:
        question = definition.question(served["question"])
        if question is None:
            continue
        yield xapi.Answer(
            question.id,
            dict(question.prompt),
            tuple(served["options"]),
            tuple(chosen.get(question.id, [])),
            tuple(sorted(question.correct_ids)),
        )


def _attempts(reader: _Reader, since: datetime, until: datetime) -> Statements:
    rows = reader.session.execute(
        select(QuizAttempt, Assignment.user_id, Assignment.course_version_id)
        .join(Assignment, Assignment.id == QuizAttempt.assignment_id)
        .where(QuizAttempt.submitted_at >= since, QuizAttempt.submitted_at < until)
    ).all()
    reader.know(user_id for _, user_id, _ in rows)
    for attempt, user_id, version_id in rows:
        definition, course = reader.course(version_id)
        who = reader.who(user_id)
        at = attempt.submitted_at or until
        for answer in _answers(definition, attempt):
            yield xapi.answered(reader.iris, who, course, attempt.id, answer, attempt.language, at)
        yield xapi.graded(
            reader.iris,
            who,
            course,
            attempt.id,
            attempt.score_percent or 0,
            bool(attempt.passed),
            attempt.language,
            at,
        )


def _attestations(reader: _Reader, since: datetime, until: datetime) -> Statements:
    """`attested`, and `completed` for the cycle the signature completed."""
    rows = reader.session.execute(
        select(Attestation, Assignment)
        .join(Assignment, Assignment.id == Attestation.assignment_id)
        .where(Attestation.signed_at >= since, Attestation.signed_at < until)
    ).all()
    reader.know(attestation.user_id for attestation, _ in rows)
    for attestation, cycle in rows:
        _, course = reader.course(cycle.course_version_id)
        who = reader.who(attestation.user_id)
        yield xapi.attested(
            reader.iris,
            who,
            course,
            attestation.id,
            attestation.statement_sha256,
            attestation.score_percent,
            attestation.language,
            attestation.signed_at,
        )
        if cycle.completed_via != LIVE_SESSION:  # that completion was reported when it happened
            yield xapi.completed(
                reader.iris, who, course, cycle.id, "attestation", attestation.signed_at
            )


def _live_sessions(reader: _Reader, since: datetime, until: datetime) -> Statements:
    """`completed` for cycles completed by attending a live session (found from the seats:
    attendance is recorded on the seat, whose time is indexed and whose table is small)."""
    rows = reader.session.execute(
        select(Assignment)
        .join(LiveSeat, LiveSeat.user_id == Assignment.user_id)
        .join(
            LiveSession,
            (LiveSession.id == LiveSeat.session_id)
            & (LiveSession.course_id == Assignment.course_id),
        )
        .where(
            LiveSeat.attended_at >= since,
            LiveSeat.attended_at < until,
            Assignment.completed_via == LIVE_SESSION,
        )
    )
    cycles = rows.scalars().unique().all()
    reader.know(cycle.user_id for cycle in cycles)
    for cycle in cycles:
        _, course = reader.course(cycle.course_version_id)
        yield xapi.completed(
            reader.iris,
            reader.who(cycle.user_id),
            course,
            cycle.id,
            LIVE_SESSION,
            cycle.completed_at or until,
        )


READERS: tuple[Callable[[_Reader, datetime, datetime], Statements], ...] = (
    _launches,
    _module_views,
    _attempts,
    _attestations,
    _live_sessions,
)


def find_statements(session: Session, now: datetime, *, base_url: str, domain: str) -> int:
    """Queue, for each active store, the statements for what happened since it was last read
    (re-reading OVERLAP back, which the outbox's unique keys make harmless), an hour of
    history at most per run so a store that was off for a while catches up in steps."""
    queued = 0
    for endpoint in session.scalars(select(LrsEndpoint).where(LrsEndpoint.active)):
        iris = xapi.Iris(base_url, endpoint.id_seed)
        reader = _Reader(session, iris, endpoint.send_email, now)
        since = endpoint.read_until - OVERLAP
        until = min(now, endpoint.read_until + SLICE)
        for read in READERS:
            for statement in read(reader, since, until):
                queued += int(
                    outbox.enqueue(
                        session,
                        key=f"xapi:{endpoint.id}:{statement['id']}",
                        kind=KIND,
                        payload={"endpoint_id": endpoint.id, "statement": statement},
                        now=now,
                        domain=domain,
                    )
                )
        endpoint.read_until = max(endpoint.read_until, until)
    session.flush()
    return queued


# --- delivering ------------------------------------------------------------------------------


def put_statement(
    endpoint: LrsEndpoint, statement: dict[str, Any], *, policy: Policy, keys: crypto.Keys
) -> None:
    """PUT one statement under its id, under the outbound policy. 204 stored; 409 means a
    statement with that id is there already, which for Vern's deterministic ids means an
    earlier try arrived. What the LRS says besides its status is never kept."""
    try:
        password = crypto.decrypt(keys, endpoint.password_encrypted)
    except crypto.SecretUnreadable:
        raise DeliveryFailed("LRS password unreadable: was the secret key changed?") from None
    credentials = base64.b64encode(f"{endpoint.username}:{password}".encode()).decode()
    url = endpoint.url + "statements?" + urlencode({"statementId": statement["id"]})
    headers = {
        "Content-Type": "application/json",
        "X-Experience-API-Version": XAPI_VERSION,
        "Authorization": f"Basic {credentials}",
    }
    body = json.dumps(statement, sort_keys=True).encode()
    try:
        with (
            policy.session(AGENT) as http,
            http.put(url, data=body, headers=headers, stream=True) as response,
        ):
            status = response.status_code
            reason = outbound.status_reason(response)
    except (outbound.OutboundError, requests.RequestException) as error:
        raise DeliveryFailed(f"cannot reach {endpoint.url}: {outbound.failure(error)}") from None
    if 200 <= status < 300 or status == 409:
        return
    # A statement the LRS calls malformed will not get better by waiting.
    raise DeliveryFailed(reason, permanent=status in (400, 422))


def deliver_due(
    database: Database, now: datetime, *, policy: Policy, keys: crypto.Keys, limit: int = 500
) -> str:
    """Send the due statements (see lms.reminders.delivery)."""
    with database.transaction() as session:
        active = {e.id: e for e in session.scalars(select(LrsEndpoint).where(LrsEndpoint.active))}

    def send(message: OutboxMessage) -> None:
        endpoint = active.get(message.payload["endpoint_id"])
        if endpoint is None:
            raise NotWanted("LRS switched off")
        put_statement(endpoint, message.payload["statement"], policy=policy, keys=keys)

    stored, failed = delivery.deliver_due(database, now, kind=KIND, send=send, limit=limit)
    return f"statements stored {stored}, failed {failed}"


def run(context: JobContext) -> str:
    """The `xapi` job: find statements to send, then send what is due."""
    with context.database.transaction() as session:
        found = find_statements(
            session,
            context.now,
            base_url=context.settings.base_url,
            domain=context.settings.mail_domain,
        )
    policy = Policy.from_settings(context.settings)
    return f"statements queued {found}, " + deliver_due(
        context.database, context.now, policy=policy, keys=crypto.current_keys()
    )
