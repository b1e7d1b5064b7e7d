"""xAPI statements to a real LRS (Ralph on 127.0.0.1), read back from it: the right verbs,
stable activity IRIs, a pseudonymous actor unless email is allowed, deterministic ids, and a
store that is down delays statements without losing or doubling any."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.db import Database
from lms.evidence.models import LedgerSubject
from lms.integrations.lti import platforms
from lms.integrations.lti.models import LtiLaunch
from lms.integrations.xapi import service as xapi
from lms.integrations.xapi.models import LrsEndpoint
from lms.people import crypto
from lms.people.models import User
from lms.people.outbound import Policy
from lms.reminders.delivery import DeliveryFailed
from lms.reminders.jobs import JobContext
from lms.reminders.models import OutboxMessage, OutboxStatus
from lms.training.cycles import assign_courses
from tests import factories
from tests.company import complete
from tests.conftest import SECRET_KEY
from tests.lrs import PASSWORD, USERNAME, Ralph, start_ralph
from tests.smtp import free_port

ADL = "http://adlnet.gov/expapi/verbs/"
LOCAL = Policy(allow=("127.0.0.1",), https_only=False)  # Ralph listens on loopback
BASE = "http://127.0.0.1:5000"  # the test settings' LMS_BASE_URL default


@pytest.fixture(scope="module")
def ralph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ralph]:
    lrs = start_ralph(tmp_path_factory.mktemp("ralph"))
    yield lrs
    lrs.stop()


@pytest.fixture
def basics(session: Session, courses_root: Path, now: datetime) -> CourseDefinition:
    return factories.synced_course(session, courses_root, now - timedelta(days=1), "basics")


@pytest.fixture
def kari(session: Session, now: datetime, basics: CourseDefinition) -> User:
    person = factories.user(
        session,
        now - timedelta(days=1),
        name="Kari Nordmann",
        email=f"kari-{uuid.uuid4().hex[:8]}@nordlys-crm.no",
    )
    assign_courses(session, now - timedelta(days=1))
    return person


def _connect(session: Session, url: str, now: datetime, send_email: bool = False) -> LrsEndpoint:
    endpoint = xapi.register(
        session,
        name="Company LRS",
        url=url,
        username=USERNAME,
        password=PASSWORD,
        send_email=send_email,
        now=now - timedelta(minutes=30),  # before what the test does
        keys=SECRET_KEY,
        allow_http=True,
    )
    session.commit()
    return endpoint


def _job(app: Flask, database: Database, now: datetime) -> str:
    with app.app_context():
        context = JobContext(
            app.extensions["lms.settings"],
            database,
            app.extensions["lms.mailer"],
            now,
            lambda: False,
        )
        return xapi.run(context)


def _launch(session: Session, user: User, now: datetime) -> LtiLaunch:
    platform = platforms.register(
        session,
        platforms.PlatformDetails(
            name="LMS",
            issuer="https://lms.example.test",
            client_id="c1",
            deployment_ids=["d1"],
            auth_login_url="https://lms.example.test/auth",
            auth_token_url="https://lms.example.test/token",
            key_set_url="https://lms.example.test/jwks",
        ),
        now,
        keys=SECRET_KEY,
    )
    launch = LtiLaunch(
        platform_id=platform.id,
        user_id=user.id,
        subject="lms-42",
        course_key="basics",
        deployment_id="d1",
        ags_scopes=[],
        launched_at=now,
    )
    session.add(launch)
    session.flush()
    return launch


def _mine(ralph: Ralph, actor_key: str, value: str) -> list[dict]:  # type: ignore[type-arg]
    """This test's statements (the LRS is shared by the module's tests)."""

    def who(actor: dict) -> str | None:  # type: ignore[type-arg]
        return actor.get("mbox") if actor_key == "mbox" else actor.get("account", {}).get("name")

    return [statement for statement in ralph.statements() if who(statement["actor"]) == value]


def test_a_learning_path_reaches_the_lrs_as_statements(
    app: Flask,
    database: Database,
    session: Session,
    ralph: Ralph,
    basics: CourseDefinition,
    kari: User,
    now: datetime,
) -> None:
    _connect(session, ralph.url, now)
    launch = _launch(session, kari, now)
    complete(session, kari, basics, now)  # reads every module, passes the quiz, signs
    session.commit()

    assert "failed 0" in _job(app, database, now + timedelta(minutes=1))
    ref = session.scalars(select(LedgerSubject.ref).where(LedgerSubject.user_id == kari.id)).one()
    stored = _mine(ralph, "account", ref)
    verbs = Counter(s["verb"]["id"].rsplit("/", 1)[1] for s in stored)
    assert verbs == {
        "launched": 1,
        "experienced": len(basics.modules),
        "answered": basics.questions_per_attempt,
        "passed": 1,
        "completed": 1,
        "attested": 1,
    }
    by_verb = {s["verb"]["id"].rsplit("/", 1)[1]: s for s in stored}
    # The actor is a pseudonymous account, never the address.
    assert by_verb["passed"]["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": BASE, "name": ref},
    }
    assert kari.email not in str(stored)
    # Stable IRIs per course, module and version; the version also as an extension.
    course_iri = f"{BASE}/xapi/courses/basics"
    assert by_verb["launched"]["object"]["id"] == course_iri
    assert by_verb["experienced"]["object"]["id"].startswith(course_iri + "/modules/")
    assert by_verb["attested"]["object"]["id"] == f"{course_iri}/versions/{basics.sha256}"
    assert by_verb["passed"]["result"]["score"]["raw"] == 100
    assert by_verb["passed"]["result"]["success"] is True
    assert by_verb["attested"]["verb"]["id"] == f"{BASE}/xapi/verbs/attested"
    grouping = by_verb["experienced"]["context"]["contextActivities"]["grouping"]
    assert grouping == [{"objectType": "Activity", "id": f"{course_iri}/versions/{basics.sha256}"}]
    # Deterministic ids: what happened decides the id.
    seed = session.scalars(select(LrsEndpoint.id_seed)).one()
    assert by_verb["launched"]["id"] == str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{BASE}/xapi/statements/{seed}/launch/{launch.id}")
    )

    # Running again, or re-sending a statement whose reply was lost, stores nothing twice.
    _job(app, database, now + timedelta(minutes=2))
    endpoint = session.scalars(select(LrsEndpoint)).one()
    xapi.put_statement(endpoint, by_verb["attested"], policy=LOCAL, keys=SECRET_KEY)
    assert len(_mine(ralph, "account", ref)) == len(stored)


def test_an_lrs_allowed_to_hold_addresses_gets_the_email(
    app: Flask,
    database: Database,
    session: Session,
    ralph: Ralph,
    basics: CourseDefinition,
    kari: User,
    now: datetime,
) -> None:
    _connect(session, ralph.url, now, send_email=True)
    complete(session, kari, basics, now)
    session.commit()
    _job(app, database, now + timedelta(minutes=1))
    stored = _mine(ralph, "mbox", f"mailto:{kari.email}")
    assert {s["verb"]["id"] for s in stored} >= {ADL + "passed", ADL + "completed"}


def test_an_lrs_that_is_down_gets_the_statements_later_and_once(
    app: Flask,
    database: Database,
    session: Session,
    ralph: Ralph,
    basics: CourseDefinition,
    kari: User,
    now: datetime,
) -> None:
    endpoint = _connect(session, f"http://127.0.0.1:{free_port()}/xAPI/", now)
    complete(session, kari, basics, now)  # the employee is not held up
    session.commit()
    report = _job(app, database, now + timedelta(minutes=1))
    assert "stored 0" in report
    session.expire_all()
    waiting = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "xapi")).all()
    assert waiting
    assert {m.status for m in waiting} == {OutboxStatus.PENDING}
    assert all("cannot reach" in (m.last_error or "") for m in waiting)

    endpoint = session.get_one(LrsEndpoint, endpoint.id)
    endpoint.url = ralph.url  # the LRS is back (here: at its real address)
    session.commit()
    _job(app, database, now + timedelta(hours=1))
    session.expire_all()
    statuses = {
        m.status for m in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "xapi"))
    }
    assert statuses == {OutboxStatus.SENT}
    ref = session.scalars(select(LedgerSubject.ref).where(LedgerSubject.user_id == kari.id)).one()
    ids = [s["id"] for s in _mine(ralph, "account", ref)]
    assert len(ids) == len(set(ids)) == len(waiting)


def test_an_lrs_address_must_be_https_and_need_credentials(session: Session, now: datetime) -> None:
    for url, username, field in (
        ("http://lrs.example.test/xAPI/", "u", "url"),
        ("https://lrs.example.test/xAPI/", "", "username"),
    ):
        with pytest.raises(xapi.BadLrs) as refused:
            xapi.register(
                session,
                name="x",
                url=url,
                username=username,
                password="p",
                send_email=False,
                now=now,
                keys=SECRET_KEY,
            )
        assert refused.value.field == field


def test_the_lrs_password_is_stored_encrypted(
    session: Session, ralph: Ralph, now: datetime
) -> None:
    endpoint = _connect(session, ralph.url, now)
    assert PASSWORD not in endpoint.password_encrypted
    assert crypto.decrypt(SECRET_KEY, endpoint.password_encrypted) == PASSWORD


def test_what_an_lrs_says_when_it_refuses_a_statement_is_not_kept(
    session: Session, ralph: Ralph, now: datetime
) -> None:
    endpoint = _connect(session, ralph.url, now)
    statement = {"id": str(uuid.uuid4()), "verb": {"id": "not an IRI"}, "note": "malformed"}
    with pytest.raises(DeliveryFailed) as refused:
        xapi.put_statement(endpoint, statement, policy=LOCAL, keys=SECRET_KEY)
    # The status and its reason phrase, never the LRS's own reply (it can echo anything).
    assert re.fullmatch(r"HTTP 4\d\d [A-Za-z ]+", str(refused.value))
    assert refused.value.permanent


def test_an_lrs_on_loopback_is_refused_unless_the_operator_allows_it(
    session: Session, ralph: Ralph, now: datetime
) -> None:
    endpoint = _connect(session, ralph.url, now)
    with pytest.raises(DeliveryFailed, match="not a public address"):
        xapi.put_statement(
            endpoint, {"id": str(uuid.uuid4())}, policy=Policy(https_only=False), keys=SECRET_KEY
        )
