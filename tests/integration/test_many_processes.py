"""Vern as production runs it: two gunicorn servers and two schedulers on one database, a real
SMTP server, and a clock they all share, moved a day at a time through 30 days while a load
generator takes quizzes and signs statements.

Every due reminder arrives exactly once, the ledger does not fork, no signature is lost, no
request fails; a scheduler killed in the middle of a batch loses nothing (SIGKILL: at most the
messages in flight are sent twice; SIGTERM: none)."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from httpx2 import Client, Response
from sqlalchemy import func, select

from lms.catalog.definition import CourseDefinition
from lms.db import Database
from lms.evidence import ledger
from lms.people.models import Role, User
from lms.reminders import ladder
from lms.reminders.models import JobState, OutboxMessage
from lms.reminders.outbox import enqueue
from lms.reminders.sender import SETTLE_EVERY
from lms.training.cycles import assign_courses
from lms.training.models import Assignment, Attestation, QuizAttempt
from tests import factories
from tests.conftest import CSRF_FIELD
from tests.live import gunicorn, scheduler
from tests.smtp import SmtpSink

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DAYS = 30
PEOPLE = 160
MANAGERS = 10
LEARNERS = 40  # complete the course on day 0, through the web servers
WAIT = 90.0  # seconds any one step may take before the test gives up


@dataclass
class Clock:
    path: Path

    def set(self, moment: datetime) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(moment.isoformat(), encoding="ascii")
        temporary.replace(self.path)  # atomic: no process reads half a time


def wait_for(what: str, done: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


def environment(clock: Clock, sink: SmtpSink) -> dict[str, str]:
    return {
        "LMS_CLOCK_FILE": str(clock.path),
        "LMS_TICK_SECONDS": "1",
        "LMS_SMTP_HOST": "127.0.0.1",
        "LMS_SMTP_PORT": str(sink.port),
        "LMS_MAIL_FROM": "vern@example.test",
        # Days pass in minutes here; logins must outlive them.
        "LMS_SESSION_HOURS": "100000",
        "LMS_SESSION_IDLE_MINUTES": "1000000",
    }


def organisation(database: Database, courses_root: Path) -> CourseDefinition:
    """PEOPLE people starting over the first two weeks (the first MANAGERS manage the rest,
    and there is HR to escalate to); the course is due 10 days after the start."""
    with database.transaction() as session:
        course = factories.synced_course(session, courses_root, START, due_days=10)
        people: list[User] = []
        for n in range(PEOPLE):
            people.append(
                factories.user(
                    session,
                    START - timedelta(days=30),
                    email=f"p{n}@example.test",
                    password=factories.PASSWORD,
                    start_date=(START + timedelta(days=n % 14)).date(),
                    manager=people[n % MANAGERS] if n >= MANAGERS else None,
                )
            )
        # HR, reporting to a manager, so that even HR's own escalations have someone to go to.
        factories.user(
            session, START, email="hr@example.test", roles=frozenset({Role.HR}), manager=people[0]
        )
        assign_courses(session, START)
    return course


@dataclass
class Load:
    """Employees going through the course over HTTP, spread over both web servers."""

    database: Database
    course: CourseDefinition
    urls: list[str]
    signed: int = 0
    server_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _get(self, client: Client, url: str) -> str:
        return self._checked(client.get(url))

    def _checked(self, response: Response) -> str:
        if response.status_code >= 500:
            with self.lock:
                self.server_errors.append(f"{response.status_code} {response.url}")
        return response.text

    def _post(
        self, client: Client, url: str, data: dict[str, object], page: str | None = None
    ) -> Response:
        """POST to `url` with the CSRF token of the form on `page` (default: `url` itself)."""
        response = client.post(url, data={"csrf_token": self._token(client, page or url), **data})
        self._checked(response)
        return response

    def learner(self, n: int) -> None:
        key = self.course.key
        with Client(base_url=self.urls[n % 2], follow_redirects=True, timeout=60) as client:
            self._post(
                client, "/login", {"email": f"p{n}@example.test", "password": factories.PASSWORD}
            )
            for module in self.course.modules:
                page = f"/training/{key}/modules/{module.slug}"
                self._post(client, page + "/read", {}, page=page)
            quiz = self._post(client, f"/training/{key}/quiz", {}, page=f"/training/{key}")
            attempt_id = int(str(quiz.url).rstrip("/").rsplit("/", 1)[1])
            self._post(client, f"/attempts/{attempt_id}", self._answers(attempt_id))
            signature = {
                "agree": "y",
                "typed_name": self._name(n),
                "statement_sha256": self.course.statement_sha256("en"),
            }
            self._post(client, f"/training/{key}/attest", signature)
            if "/attestations/" in self._get(client, f"/training/{key}"):
                with self.lock:
                    self.signed += 1

    def _token(self, client: Client, url: str) -> str:
        match = CSRF_FIELD.search(self._get(client, url))
        assert match, url
        return match.group(1) or match.group(2)

    def _answers(self, attempt_id: int) -> dict[str, object]:
        """The right answers, looked up as a test may: what was served is in the database."""
        with self.database.transaction() as session:
            attempt = session.get_one(QuizAttempt, attempt_id)
            answers: dict[str, object] = {}
            for position, item in enumerate(attempt.served):
                question = self.course.question(item["question"])
                assert question is not None
                chosen = [
                    str(i) for i, o in enumerate(item["options"]) if o in question.correct_ids
                ]
                answers[f"q{position}"] = chosen if len(chosen) > 1 else chosen[0]
            return answers

    def _name(self, n: int) -> str:
        with self.database.transaction() as session:
            return str(
                session.scalar(select(User.full_name).where(User.email == f"p{n}@example.test"))
            )


def _pending(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.status == "pending")) or 0


def _swept_since(database: Database, moment: datetime) -> bool:
    with database.transaction() as session:
        state = session.get(JobState, "sweep")
        return bool(
            state is not None
            and state.last_started_at is not None
            and state.last_started_at >= moment
            and state.last_finished_at is not None
            and state.last_finished_at >= state.last_started_at
        )


def _expected_reminder_keys(database: Database, course: CourseDefinition) -> set[str]:
    """Each open cycle gets the stage of every simulated day it was due on, once."""
    days = [(START + timedelta(days=d)).date() for d in range(DAYS + 1)]
    keys = set()
    with database.transaction() as session:
        for assignment_id, due_on in session.execute(
            select(Assignment.id, Assignment.due_on).where(Assignment.completed_at.is_(None))
        ):
            for day in days:
                stage = ladder.latest_stage(course.reminders, due_on, day)
                if stage is not None:
                    keys.add(f"reminder:{assignment_id}:{stage.key}")
    return keys


def test_two_web_servers_and_two_schedulers_through_thirty_days(
    fresh_database_url: str, courses_root: Path, tmp_path: Path, sink: SmtpSink
) -> None:
    database = Database(fresh_database_url)
    course = organisation(database, courses_root)
    clock = Clock(tmp_path / "clock.txt")
    clock.set(START)
    env = environment(clock, sink)
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                gunicorn(fresh_database_url, tmp_path / f"web{i}", courses_root, env)
            )
            for i in range(2)
        ]
        for i in range(2):
            stack.enter_context(
                scheduler(fresh_database_url, tmp_path / f"s{i}", courses_root, env)
            )
        load = Load(database, course, urls)
        threads = [threading.Thread(target=load.learner, args=(n,)) for n in range(LEARNERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT)
        assert load.server_errors == []
        assert load.signed == LEARNERS
        for day in range(1, DAYS + 1):
            moment = START + timedelta(days=day)
            clock.set(moment)
            wait_for(f"the sweep of day {day}", lambda m=moment: _swept_since(database, m))
            wait_for(f"the mail of day {day}", lambda: _pending(database) == 0)

    with database.transaction() as session:
        outbox = {m.dedupe_key: m for m in session.scalars(select(OutboxMessage))}
        signatures = session.scalar(select(func.count()).select_from(Attestation))
        attempts = session.scalar(select(func.count()).select_from(QuizAttempt))
        good, _, problem = ledger.verify_chain(session, set())
    expected = _expected_reminder_keys(database, course)
    database.dispose()

    reminders = {key: m for key, m in outbox.items() if key.startswith("reminder:")}
    assert set(reminders) == expected
    assert len(reminders) > PEOPLE  # several stages each: the simulation did chase people
    assert {m.status for m in reminders.values()} == {"sent"}
    received = Counter(r.message_id for r in sink.received)
    assert [mid for mid, n in received.items() if n > 1] == []  # nothing arrived twice
    assert {m.message_id for m in reminders.values()} <= set(received)  # everything arrived
    assert signatures == LEARNERS  # no signature lost
    assert problem is None  # no fork: one chain, every link intact
    assert good == attempts + 2 * LEARNERS


def _fill_outbox(database: Database, count: int) -> list[str]:
    with database.transaction() as session:
        person = factories.user(session, START, email="inbox@example.test")
        for n in range(count):
            enqueue(
                session,
                key=f"test:{n}",
                kind="test",
                payload={"to": [person.id], "admin_id": person.id},
                now=START,
                domain="example.test",
            )
        return [m.message_id for m in session.scalars(select(OutboxMessage))]


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_a_scheduler_stopped_in_the_middle_of_a_batch_loses_nothing(
    fresh_database_url: str,
    courses_root: Path,
    tmp_path: Path,
    sink: SmtpSink,
    signal_name: str,
) -> None:
    database = Database(fresh_database_url)
    factories.write_course(courses_root)
    message_ids = _fill_outbox(database, 120)
    clock = Clock(tmp_path / "clock.txt")
    clock.set(START)
    sink.handler.delay = 0.05  # a slow relay: the batch is still going when the signal comes
    env = environment(clock, sink)
    with scheduler(fresh_database_url, tmp_path / "a", courses_root, env) as first:
        wait_for("the first mails", lambda: len(sink.received) >= 15)
        first.send_signal(getattr(signal, signal_name))
        first.wait(timeout=WAIT)
    assert len(sink.received) < len(message_ids)  # it was stopped with work left
    in_flight = len({r.message_id for r in sink.received}) - _sent(database)
    # A killed scheduler's lease runs out (5 minutes of the shared clock); then the other
    # one sends what was left. A stopped one released what it had not tried.
    clock.set(START + timedelta(minutes=6))
    with scheduler(fresh_database_url, tmp_path / "b", courses_root, env):
        wait_for("the rest of the mail", lambda: _sent(database) == len(message_ids))
    database.dispose()
    received = Counter(r.message_id for r in sink.received)
    assert set(received) == set(message_ids)  # nothing lost
    duplicates = sum(n - 1 for n in received.values())
    if signal_name == "SIGTERM":
        assert duplicates == 0
    else:
        assert duplicates <= min(in_flight, SETTLE_EVERY)


def _sent(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.status == "sent")) or 0
