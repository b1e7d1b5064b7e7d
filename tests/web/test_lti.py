"""LTI 1.3 launches from a test platform (its own RSA key, JWKS served on 127.0.0.1): a good
launch opens the course in a login limited to it; a bad one is a clear page, a logged cause,
and nothing created."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from lms.audit.models import AuditEvent
from lms.catalog.definition import CourseDefinition
from lms.catalog.models import Course, CourseVersion
from lms.db import Database
from lms.integrations.lti import platforms, scores
from lms.integrations.lti.models import LtiLaunch, LtiPlatform, LtiUserLink
from lms.people.models import LoginSession, Role, User
from lms.reminders.jobs import JobContext
from lms.reminders.models import OutboxMessage, OutboxStatus
from lms.training.cycles import assign_courses
from tests import factories
from tests.company import complete
from tests.conftest import SECRET_KEY
from tests.lti_platform import CLIENT_ID, ISSUER, TestPlatform, state_and_nonce
from tests.unit.training.conftest import Learner


@pytest.fixture
def platform() -> Iterator[TestPlatform]:
    started = TestPlatform().start()
    yield started
    started.close()


@pytest.fixture
def basics(session: Session, courses_root: Path, now: datetime) -> CourseDefinition:
    return factories.synced_course(session, courses_root, now, "basics")


@pytest.fixture
def registered(
    session: Session,
    platform: TestPlatform,
    courses_root: Path,
    now: datetime,
    basics: CourseDefinition,
) -> LtiPlatform:
    """Vern knows the platform; Kari works in sales; the basics course is for everyone."""
    factories.synced_course(session, courses_root, now, "sales-only", audience=["sales"])
    sales = factories.department(session, "sales", "Sales")
    factories.department(session, "ops", "Operations")
    factories.user(session, now, name="Kari Nordmann", email="kari@example.test", department=sales)
    assign_courses(session, now)
    registered = platforms.register(
        session,
        platforms.PlatformDetails(
            **platform.registration(department_claim="department", matches_by_email=True)
        ),
        now,
        keys=SECRET_KEY,
        allow_http=True,
    )
    session.commit()
    return registered


def _login_initiation(client: FlaskClient, course: str = "basics") -> tuple[str, str]:
    response = client.post(
        "/lti/login",
        data={
            "iss": ISSUER,
            "client_id": CLIENT_ID,
            "login_hint": "lms-user-42",
            "target_link_uri": f"http://localhost/lti/courses/{course}",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith("http://127.0.0.1:")
    return state_and_nonce(response.headers["Location"])


def _launch(client: FlaskClient, platform: TestPlatform, **token: object) -> TestResponse:
    state, nonce = _login_initiation(client)
    id_token = platform.id_token(nonce=nonce, **token)  # type: ignore[arg-type]
    return client.post("/lti/launch", data={"id_token": id_token, "state": state})


def _created(session: Session) -> tuple[int, ...]:
    """What a launch creates: people, links, launches, logins."""
    session.expire_all()
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (User, LtiUserLink, LtiLaunch, LoginSession)
    )


def _refusal_causes(session: Session) -> list[str]:
    session.expire_all()
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "lti.launch_refused"))
    return [str(event.detail.get("cause")) for event in events]


def test_a_good_launch_opens_the_course_in_a_login_that_reaches_only_that_course(
    client: FlaskClient, session: Session, platform: TestPlatform, registered: LtiPlatform
) -> None:
    response = _launch(client, platform, lineitem=platform.lineitem())
    assert response.status_code == 302
    assert response.headers["Location"] == "/training/basics"
    page = client.get("/training/basics")
    assert page.status_code == 200
    assert "Kari Nordmann" in page.get_data(as_text=True)

    launch = session.scalars(select(LtiLaunch)).one()
    assert (launch.course_key, launch.subject, launch.lineitem_url) == (
        "basics",
        "lms-user-42",
        platform.lineitem(),
    )
    kari = session.scalars(select(User).where(User.email == "kari@example.test")).one()
    assert launch.user_id == kari.id
    link = session.scalars(select(LtiUserLink)).one()
    assert (link.subject, link.user_id) == ("lms-user-42", kari.id)

    for elsewhere in ("/training", "/my-data", "/training/sales-only", "/admin/integrations/"):
        refused = client.get(elsewhere)
        assert refused.status_code == 403, elsewhere
        assert "reaches only that course" in refused.get_data(as_text=True)


def test_a_launched_login_opens_only_the_attempts_of_its_own_course(
    client: FlaskClient,
    session: Session,
    platform: TestPlatform,
    registered: LtiPlatform,
    basics: CourseDefinition,
    now: datetime,
) -> None:
    kari = session.scalars(select(User).where(User.email == "kari@example.test")).one()
    sales_only = session.scalars(
        select(CourseVersion).join(Course, Course.id == CourseVersion.course_id)
        .where(Course.key == "sales-only")
    ).one().definition  # fmt: skip
    attempts = {}
    for definition in (basics, sales_only):
        attempts[definition.key] = Learner(session, kari, definition, now).pass_quiz().id
    session.commit()
    assert _launch(client, platform).status_code == 302  # into basics
    assert client.get(f"/attempts/{attempts['basics']}/result").status_code == 200
    assert client.get(f"/attempts/{attempts['sales-only']}/result").status_code == 403


def test_the_second_launch_of_the_same_person_finds_them_by_the_platform_id(
    client: FlaskClient, session: Session, platform: TestPlatform, registered: LtiPlatform
) -> None:
    assert _launch(client, platform).status_code == 302
    # The email changed in the LMS since; the link by `sub` still finds Kari.
    assert _launch(client, platform, email="kari.n@example.test").status_code == 302
    assert session.scalar(select(func.count()).select_from(User)) == 1
    assert len(set(session.scalars(select(LtiLaunch.user_id)))) == 1


@pytest.mark.parametrize(
    ("token", "cause"),
    [
        (
            {"signing_key": rsa.generate_private_key(public_exponent=65537, key_size=2048)},
            "Signature verification failed",
        ),
        ({"audience": "someone-else"}, "Registration not found"),
        ({"expires_in": -120}, "expired"),
        ({"deployment_id": "deployment-unknown"}, "Unable to find deployment"),
        ({"course": "no-such-course"}, "unknown course"),
        ({"course": "sales-only", "email": "kari@example.test", "sub": "someone"}, None),
    ],
    ids=[
        "wrong signature",
        "wrong audience",
        "expired",
        "unknown deployment",
        "unknown course",
        "fine",
    ],
)
def test_a_bad_launch_is_a_clear_page_a_logged_cause_and_nothing_created(
    client: FlaskClient,
    session: Session,
    platform: TestPlatform,
    registered: LtiPlatform,
    token: dict[str, object],
    cause: str | None,
) -> None:
    before = _created(session)
    response = _launch(client, platform, **token)
    if cause is None:  # the control: the same set-up launches fine
        assert response.status_code == 302
        return
    assert response.status_code == 400
    assert "Could not open the course" in response.get_data(as_text=True)
    assert _created(session) == before
    assert any(cause in logged for logged in _refusal_causes(session)), _refusal_causes(session)


@pytest.mark.parametrize("key_set", [{}, {"keys": "none"}, {"keys": [1]}])
def test_a_key_set_url_answering_without_keys_refuses_the_launch_and_creates_nothing(
    client: FlaskClient,
    session: Session,
    platform: TestPlatform,
    registered: LtiPlatform,
    key_set: dict[str, object],
) -> None:
    """pylti1p3 read key_set["keys"] unchecked: every launch from such a platform was a 500."""
    platform.jwks_body = key_set
    before = _created(session)
    response = _launch(client, platform)
    assert response.status_code == 400
    assert "Could not open the course" in response.get_data(as_text=True)
    assert _created(session) == before
    assert any("without a JWKS 'keys' list" in cause for cause in _refusal_causes(session))


def test_a_platform_not_trusted_to_match_by_email_cannot_sign_in_as_an_existing_account(
    client: FlaskClient, session: Session, platform: TestPlatform, registered: LtiPlatform
) -> None:
    """Asserting someone's email was enough to become them (pentest finding)."""
    registered.matches_by_email = False
    session.commit()
    before = _created(session)
    response = _launch(client, platform)  # as kari@example.test, never linked before
    assert response.status_code == 400
    assert "not trusted to find your Vern account by email" in response.get_data(as_text=True)
    assert _created(session) == before
    assert any("not trusted to match people by email" in c for c in _refusal_causes(session))


@pytest.mark.parametrize("role", [Role.ADMIN, Role.HR, Role.AUDITOR])
def test_a_launch_never_links_or_signs_in_an_admin_hr_or_auditor_account(
    client: FlaskClient,
    session: Session,
    platform: TestPlatform,
    registered: LtiPlatform,
    now: datetime,
    role: Role,
) -> None:
    """Even from a platform trusted to match by email, and even for a link made earlier."""
    staff = factories.user(
        session, now, name="Sam Staff", email="sam@example.test", roles=frozenset({role})
    )
    session.commit()
    before = _created(session)
    response = _launch(client, platform, sub="lms-staff", email=staff.email)
    assert response.status_code == 400
    assert "sign in to Vern directly" in response.get_data(as_text=True)
    assert _created(session) == before
    assert any(f"privileged user {staff.id}" in c for c in _refusal_causes(session))

    session.add(
        LtiUserLink(
            platform_id=registered.id, subject="lms-staff", user_id=staff.id, created_at=now
        )
    )
    session.commit()
    again = _launch(client, platform, sub="lms-staff", email=staff.email)
    assert again.status_code == 400
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(LoginSession)) == before[3]


def test_refused_logins_from_one_address_are_counted_in_one_audit_row(
    client: FlaskClient, session: Session, registered: LtiPlatform
) -> None:
    """Anyone can post a refused login initiation: a row each would let a flood fill the
    database; the admin's list shows the latest cause and how many times."""
    for n in range(50):
        refused = client.post(
            "/lti/login",
            data={"iss": ISSUER, "target_link_uri": f"https://elsewhere.example/{n}"},
        )
        assert refused.status_code == 400
    session.expire_all()
    (row,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "lti.launch_refused"))
    assert row.detail["count"] == 50
    assert "https://elsewhere.example/49" in row.detail["cause"]


def test_a_replayed_id_token_is_refused(
    client: FlaskClient, session: Session, platform: TestPlatform, registered: LtiPlatform
) -> None:
    state, nonce = _login_initiation(client)
    posted = {"id_token": platform.id_token(nonce=nonce), "state": state}
    assert client.post("/lti/launch", data=posted).status_code == 302
    before = _created(session)
    replay = client.post("/lti/launch", data=posted)
    assert replay.status_code == 400
    assert "already used" in replay.get_data(as_text=True)
    assert _created(session) == before
    assert any("replayed nonce" in cause for cause in _refusal_causes(session))


def test_a_launch_without_the_login_step_is_refused(
    client: FlaskClient, session: Session, platform: TestPlatform, registered: LtiPlatform
) -> None:
    """A nonce Vern never handed out (no login initiation) opens nothing."""
    response = client.post(
        "/lti/launch", data={"id_token": platform.id_token(nonce="made-up"), "state": "state-x"}
    )
    assert response.status_code == 400
    assert _created(session)[1:] == (0, 0, 0)


def test_an_unknown_person_is_refused_unless_the_platform_provisions(
    client: FlaskClient, session: Session, platform: TestPlatform, registered: LtiPlatform
) -> None:
    stranger = {"sub": "lms-user-99", "email": "ola@example.test", "custom": {"department": "ops"}}
    before = _created(session)
    refused = _launch(client, platform, **stranger)
    assert refused.status_code == 400
    assert "ola@example.test" in refused.get_data(as_text=True)
    assert _created(session) == before

    registered.provisions_users = True
    session.commit()
    assert _launch(client, platform, **stranger).status_code == 302
    ola = session.scalars(select(User).where(User.email == "ola@example.test")).one()
    assert ola.department is not None
    assert ola.department.key == "ops"


def test_a_provisioning_platform_must_name_a_known_department(
    client: FlaskClient, session: Session, platform: TestPlatform, registered: LtiPlatform
) -> None:
    registered.provisions_users = True
    session.commit()
    before = _created(session)
    for custom in ({}, {"department": "marketing"}):
        response = _launch(client, platform, sub="new", email="new@example.test", custom=custom)
        assert response.status_code == 400
    assert _created(session) == before


def test_deep_linking_returns_the_chosen_courses_signed_with_vern_key(
    client: FlaskClient, session: Session, platform: TestPlatform, registered: LtiPlatform
) -> None:
    picker = _launch(client, platform, message_type="LtiDeepLinkingRequest", course=None)
    assert picker.status_code == 200
    html = picker.get_data(as_text=True)
    assert 'value="basics"' in html
    assert 'value="sales-only"' in html
    launch_id = html.split('name="launch_id" value="')[1].split('"')[0]

    nothing = client.post("/lti/deep-link", data={"launch_id": launch_id})
    assert nothing.status_code == 400
    assert "Pick at least one course" in nothing.get_data(as_text=True)

    reply = client.post("/lti/deep-link", data={"launch_id": launch_id, "course": ["basics"]})
    assert reply.status_code == 200
    assert f"form-action {platform.base}" in reply.headers["Content-Security-Policy"]
    page = reply.get_data(as_text=True)
    assert f'action="{platform.base}/deep-link-return"' in page
    token = page.split('name="JWT" value="')[1].split('"')[0]
    key = jwt.PyJWKSet.from_dict(client.get("/lti/jwks.json").get_json())[
        jwt.get_unverified_header(token)["kid"]
    ]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=ISSUER)
    (item,) = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["custom"] == {"course": "basics"}
    assert item["url"] == "http://localhost/lti/courses/basics"
    assert item["lineItem"]["scoreMaximum"] == 100
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "opaque-platform-data"

    again = client.post("/lti/deep-link", data={"launch_id": launch_id, "course": ["basics"]})
    assert again.status_code == 400  # one reply per deep-linking request
    assert _created(session)[2] == 0  # picking courses launches nobody


def test_the_jwks_publishes_vern_public_key_only(
    client: FlaskClient, registered: LtiPlatform
) -> None:
    (key,) = client.get("/lti/jwks.json").get_json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["kid"]
    assert not {"d", "p", "q"} & set(key)


def _score_job(app: Flask, database: Database, now: datetime) -> str:
    with app.app_context():
        context = JobContext(
            app.extensions["lms.settings"],
            database,
            app.extensions["lms.mailer"],
            now,
            lambda: False,
        )
        return scores.run(context)


def _kari(session: Session) -> User:
    return session.scalars(select(User).where(User.email == "kari@example.test")).one()


def test_a_signed_attestation_score_goes_to_the_platform_line_item_once(
    app: Flask,
    client: FlaskClient,
    database: Database,
    session: Session,
    platform: TestPlatform,
    registered: LtiPlatform,
    basics: CourseDefinition,
    now: datetime,
) -> None:
    assert _launch(client, platform, lineitem=platform.lineitem()).status_code == 302
    complete(session, _kari(session), basics, now)
    session.commit()

    assert "scores posted 1" in _score_job(app, database, now)
    _score_job(app, database, now)  # again (or a second scheduler): nothing twice
    (posted,) = platform.scores
    assert posted.lineitem_path == "/lineitems/course-1"
    assert posted.content_type == "application/vnd.ims.lis.v1.score+json"
    assert posted.authorization.startswith("Bearer token-")
    assert posted.body["userId"] == "lms-user-42"
    assert (posted.body["scoreGiven"], posted.body["scoreMaximum"]) == (100, 100)
    assert (posted.body["activityProgress"], posted.body["gradingProgress"]) == (
        "Completed",
        "FullyGraded",
    )
    # Vern asked for the token with a client assertion signed by the key it publishes.
    (token_request,) = platform.token_requests
    assertion = token_request["client_assertion"][0]
    public = jwt.PyJWKSet.from_dict(client.get("/lti/jwks.json").get_json())[
        jwt.get_unverified_header(assertion)["kid"]
    ]
    claims = jwt.decode(
        assertion, public.key, algorithms=["RS256"], audience=f"{platform.base}/token"
    )
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert token_request["grant_type"] == ["client_credentials"]


def test_a_launch_after_signing_also_brings_the_score(
    app: Flask,
    client: FlaskClient,
    database: Database,
    session: Session,
    platform: TestPlatform,
    registered: LtiPlatform,
    basics: CourseDefinition,
    now: datetime,
) -> None:
    complete(session, _kari(session), basics, now)
    session.commit()
    assert _launch(client, platform, lineitem=platform.lineitem()).status_code == 302
    _score_job(app, database, now)
    assert [p.body["userId"] for p in platform.scores] == ["lms-user-42"]


def test_a_gradebook_that_fails_is_retried_and_never_blocks_the_employee(
    app: Flask,
    client: FlaskClient,
    database: Database,
    session: Session,
    platform: TestPlatform,
    registered: LtiPlatform,
    basics: CourseDefinition,
    now: datetime,
) -> None:
    assert _launch(client, platform, lineitem=platform.lineitem()).status_code == 302
    platform.scores_status = 503
    complete(session, _kari(session), basics, now)  # signing works
    session.commit()
    assert "failed 1" in _score_job(app, database, now)
    session.expire_all()
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "lti_score")).one()
    assert message.status == OutboxStatus.PENDING
    assert message.last_error is not None
    assert "HTTP 503" in message.last_error

    platform.scores_status = 200
    assert "scores posted 1" in _score_job(app, database, now + timedelta(minutes=5))
    assert len(platform.scores) == 2  # the refused one, then the accepted one


def test_a_deleted_line_item_stops_the_retries(
    app: Flask,
    client: FlaskClient,
    database: Database,
    session: Session,
    platform: TestPlatform,
    registered: LtiPlatform,
    basics: CourseDefinition,
    now: datetime,
) -> None:
    assert _launch(client, platform, lineitem=platform.lineitem()).status_code == 302
    platform.scores_status = 404
    complete(session, _kari(session), basics, now)
    session.commit()
    _score_job(app, database, now)
    session.expire_all()
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "lti_score")).one()
    assert message.status == OutboxStatus.DEAD
