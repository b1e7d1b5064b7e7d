"""Every URL rule of the app against every role (ASVS 4.0.3 V4.1.1, V4.1.3, V4.2.1).

The matrix below lists, for each endpoint, the status each role gets. A rule the matrix does
not know fails the test, so a new page cannot ship without someone deciding who may see it.
GET routes are requested plainly; POST-only routes are posted with a valid CSRF token and an
empty form, which is enough to reach (or be stopped by) the permission check."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from lms.config import Settings
from lms.db import Base
from lms.evidence import keys
from lms.people.models import Role, User
from lms.training.cycles import assign_courses
from lms.training.models import Assignment
from tests import factories
from tests.conftest import Auth, csrf_token
from tests.unit.training.conftest import Learner

CSRF_VALUE = re.compile(r'name="csrf_token"[^>]*value="[^"]*"')
ROLES = ("anonymous", "employee", "manager", "other_manager", "hr", "auditor", "admin")


@dataclass
class World:
    people: dict[str, User]
    values: dict[str, Any]


@pytest.fixture
def world(session: Session, courses_root: Path, now: datetime, settings: Settings) -> World:
    """Mia manages Kari (who passed and signed) and Eli; Omar manages Ola elsewhere."""
    definition = factories.synced_course(session, courses_root, now - timedelta(days=40))
    ops, sales = factories.department(session, "ops"), factories.department(session, "sales")

    def person(name: str, **extra: Any) -> User:
        return factories.user(
            session,
            now - timedelta(days=40),
            name=name,
            email=f"{name.split()[0].lower()}@example.test",
            password=factories.PASSWORD,
            **extra,
        )

    mia = person("Mia Manager", department=ops)
    kari = person("Kari Subject", department=ops, manager=mia)
    eli = person("Eli Employee", department=ops, manager=mia)
    omar = person("Omar Other", department=sales)
    person("Ola Other", department=sales, manager=omar)
    people = {
        "employee": eli,
        "manager": mia,
        "other_manager": omar,
        "hr": person("Hal Hr", roles=frozenset({Role.HR})),
        "auditor": person("Aud Auditor", roles=frozenset({Role.AUDITOR})),
        "admin": person("Ada Admin", roles=frozenset({Role.ADMIN})),
    }
    kari.external_id = "kari-1"
    keys.create_key(settings.ledger_key)  # signed packs can be made
    assign_courses(session, now - timedelta(days=40))
    learner = Learner(session, kari, definition, now)
    attempt = learner.pass_quiz()
    attestation = learner.sign()
    session.commit()
    assignment = session.query(Assignment).filter_by(user_id=kari.id).one()
    values = {
        "course_key": definition.key,
        "slug": definition.modules[0].slug,
        "attempt_id": attempt.id,
        "attestation_id": attestation.id,
        "user_id": kari.id,
        "assignment_id": assignment.id,
        "department_id": ops.id,
        "action": "rename",
        "external_id": "kari-1",
        "filename": "style.css",
        "token_id": 999_999,
        "endpoint_id": 999_999,
        "message_id": 999_999,
        "exemption_id": 999_999,
        "live_session_id": 999_999,
        "platform_id": 999_999,
        "store_id": 999_999,
        "provider_id": 999_999,
        "name": "no-such-provider",
        "path": "Users",
        "token": "no-such-link",
    }
    return World(people, values)


def _url(rule: Rule, values: dict[str, Any]) -> str:
    """The rule's path with the world's value for each of its arguments."""
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def _status(app: Flask, role: str, world: World, rule: Rule) -> int:
    client: FlaskClient = app.test_client()
    if role != "anonymous":
        Auth(client).login(world.people[role].email, factories.PASSWORD)
    url = _url(rule, world.values)
    if "GET" in (rule.methods or set()):
        with client.get(url) as response:  # closes streamed files (static, CSV)
            return response.status_code
    token = csrf_token(
        client.get("/login" if role == "anonymous" else "/account").get_data(as_text=True)
    )
    return client.post(url, data={"csrf_token": token}).status_code


# Columns: anonymous, employee, manager (of the subject), other_manager, hr, auditor, admin.
# 302 for anonymous is the way to the login page; an empty POST that passes the permission
# check answers 302 (flash and back) or 400 (form refused), which is all this test needs.
LOGIN = 302
MATRIX: dict[str, tuple[int, ...]] = {
    "static": (200, 200, 200, 200, 200, 200, 200),
    "people.login": (200, 302, 302, 302, 302, 302, 302),
    "people.logout": (LOGIN, 302, 302, 302, 302, 302, 302),
    "people.preferences": (LOGIN, 200, 200, 200, 200, 200, 200),
    "training.index": (LOGIN, 302, 302, 302, 302, 302, 302),
    "training.my_training": (LOGIN, 200, 200, 200, 200, 200, 200),
    "training.course": (LOGIN, 200, 200, 200, 200, 200, 200),
    "training.module": (LOGIN, 200, 200, 200, 200, 200, 200),
    "training.module_read": (LOGIN, 302, 302, 302, 302, 302, 302),  # on to the next module
    "training.quiz": (LOGIN, 302, 302, 302, 302, 302, 302),  # modules unread: back to course
    "training.attest": (LOGIN, 302, 302, 302, 302, 302, 302),  # quiz not passed: same
    # Kari's own attempt and attestation: nobody else's, whatever their role.
    "training.attempt": (LOGIN, 404, 404, 404, 404, 404, 404),
    "training.result": (LOGIN, 404, 404, 404, 404, 404, 404),
    "training.confirmation": (LOGIN, 404, 404, 404, 404, 404, 404),
    # Managers see their own reporting line; a manager of another team gets their own (empty
    # of Kari) page and a 404 for Kari; HR and admins use the organisation pages instead.
    "reports.team": (LOGIN, 403, 200, 200, 403, 403, 403),
    "reports.team_export": (LOGIN, 403, 200, 200, 403, 403, 403),
    "reports.team_person": (LOGIN, 404, 200, 404, 404, 404, 404),
    "reminders.nudge": (LOGIN, 404, 302, 404, 404, 404, 404),
    "reports.overview": (LOGIN, 403, 403, 403, 200, 200, 200),
    "reports.as_of": (LOGIN, 403, 403, 403, 200, 200, 200),
    "reports.onboarding": (LOGIN, 403, 403, 403, 200, 200, 200),
    "reports.completions_export": (LOGIN, 403, 403, 403, 200, 200, 200),
    "reports.evidence": (LOGIN, 403, 403, 403, 200, 200, 200),
    "reports.evidence_pack_json": (LOGIN, 403, 403, 403, 200, 200, 200),
    "reports.evidence_pack_pdf": (LOGIN, 403, 403, 403, 200, 200, 200),
    "reports.evidence_pack_zip": (LOGIN, 403, 403, 403, 200, 200, 200),
    "reports.completions_pack_export": (LOGIN, 403, 403, 403, 200, 200, 200),
    # People administration: HR and admins; auditors read, they do not change.
    "people_admin.people": (LOGIN, 403, 403, 403, 200, 403, 200),
    "people_admin.person": (LOGIN, 403, 403, 403, 200, 403, 200),
    "people_admin.deactivate": (LOGIN, 403, 403, 403, 302, 403, 302),
    "people_admin.erase": (LOGIN, 403, 403, 403, 403, 403, 400),
    "people_admin.grant_exemption": (LOGIN, 403, 403, 403, 400, 403, 400),
    "people_admin.revoke_exemption": (LOGIN, 403, 403, 403, 404, 403, 404),
    "live_sessions.index": (LOGIN, 403, 403, 403, 200, 403, 200),
    "live_sessions.schedule": (LOGIN, 403, 403, 403, 400, 403, 400),
    "live_sessions.detail": (LOGIN, 403, 403, 403, 404, 403, 404),
    "live_sessions.attendance": (LOGIN, 403, 403, 403, 404, 403, 404),
    "live_sessions.cancel": (LOGIN, 403, 403, 403, 404, 403, 404),
    "training.take_seat": (LOGIN, 404, 404, 404, 404, 404, 404),
    "training.give_up_seat": (LOGIN, 404, 404, 404, 404, 404, 404),
    "privacy.my_data_page": (LOGIN, 200, 200, 200, 200, 200, 200),
    # Only one's own: someone else's id (Kari's here) is a 404 for everyone.
    "privacy.my_data_export": (LOGIN, 404, 404, 404, 404, 404, 404),
    "people_admin.reactivate": (LOGIN, 403, 403, 403, 302, 403, 302),
    "people_admin.add": (LOGIN, 403, 403, 403, 200, 403, 200),
    "people_admin.invite": (LOGIN, 403, 403, 403, 302, 403, 302),
    "people_admin.invite_never_signed_in": (LOGIN, 403, 403, 403, 302, 403, 302),
    "people_import.upload": (LOGIN, 403, 403, 403, 200, 403, 200),
    "people_import.apply": (LOGIN, 403, 403, 403, 302, 403, 302),
    # Running the system: admins only.
    "audit.trail": (LOGIN, 403, 403, 403, 403, 403, 200),
    "audit.export": (LOGIN, 403, 403, 403, 403, 403, 200),
    "catalogue.index": (LOGIN, 403, 403, 403, 403, 403, 200),
    "catalogue.sync": (LOGIN, 403, 403, 403, 403, 403, 302),
    "departments.index": (LOGIN, 403, 403, 403, 403, 403, 200),
    "departments.create": (LOGIN, 403, 403, 403, 403, 403, 400),
    "departments.change": (LOGIN, 403, 403, 403, 403, 403, 400),
    "integrations.index": (LOGIN, 403, 403, 403, 403, 403, 200),
    "integrations.create_token": (LOGIN, 403, 403, 403, 403, 403, 400),
    "integrations.revoke_token": (LOGIN, 403, 403, 403, 403, 403, 302),
    "integrations.add_webhook": (LOGIN, 403, 403, 403, 403, 403, 400),
    "integrations.remove_webhook": (LOGIN, 403, 403, 403, 403, 403, 302),
    "lti_admin.index": (LOGIN, 403, 403, 403, 403, 403, 200),
    "lti_admin.register": (LOGIN, 403, 403, 403, 403, 403, 400),
    "lti_admin.set_active": (LOGIN, 403, 403, 403, 403, 403, 302),
    "lti_admin.set_email_trust": (LOGIN, 403, 403, 403, 403, 403, 302),
    "sso_admin.index": (LOGIN, 403, 403, 403, 403, 403, 200),
    "sso_admin.register": (LOGIN, 403, 403, 403, 403, 403, 400),
    "sso_admin.set_active": (LOGIN, 403, 403, 403, 403, 403, 302),
    "sso_admin.set_passwords": (LOGIN, 403, 403, 403, 403, 403, 302),
    "sso_admin.remove": (LOGIN, 403, 403, 403, 403, 403, 302),
    # Single sign-on: anyone may start one (at a provider that exists); the way back carries
    # its own proof (the state this browser started with), so without one it is refused.
    "sso.start": (404, 404, 404, 404, 404, 404, 404),
    "sso.callback": (400, 400, 400, 400, 400, 400, 400),
    # Sign-in links and password resets: for anyone; a signed-in person asking for a sign-in
    # link is sent on. A link's page without a live link is gone (410) for everyone.
    "sign_in_links.request_link": (200, 302, 302, 302, 302, 302, 302),
    "sign_in_links.forgot_password": (200, 200, 200, 200, 200, 200, 200),
    "sign_in_links.use_link": (410, 410, 410, 410, 410, 410, 410),
    "sign_in_links.reset_password": (410, 410, 410, 410, 410, 410, 410),
    "xapi_admin.index": (LOGIN, 403, 403, 403, 403, 403, 200),
    "xapi_admin.connect": (LOGIN, 403, 403, 403, 403, 403, 400),
    "xapi_admin.set_active": (LOGIN, 403, 403, 403, 403, 403, 302),
    "reminders.outbox_status": (LOGIN, 403, 403, 403, 403, 403, 200),
    "reminders.healthz": (200, 200, 200, 200, 200, 200, 200),  # for the load balancer
    "reminders.retry": (LOGIN, 403, 403, 403, 403, 403, 302),
    "reminders.sweep_now": (LOGIN, 403, 403, 403, 403, 403, 302),
    "reminders.settings_page": (LOGIN, 403, 403, 403, 403, 403, 200),
    "reminders.send_test_mail": (LOGIN, 403, 403, 403, 403, 403, 302),
    # The API takes bearer tokens only: a signed-in browser session is not enough.
    "api.openapi_document": (200, 200, 200, 200, 200, 200, 200),
    "api.onboarding": (401, 401, 401, 401, 401, 401, 401),
    "api.person_evidence": (401, 401, 401, 401, 401, 401, 401),
    "scim.root": (401, 401, 401, 401, 401, 401, 401),
    "scim.resources": (401, 401, 401, 401, 401, 401, 401),
    # RFC 7644 lets a client read what the service supports before it authenticates.
    "scim.service_provider_config": (200, 200, 200, 200, 200, 200, 200),
    # LTI: the platform's signed id_token is the credential, whoever is signed in; without
    # one every step is refused (and the refusal logged). The JWKS is public by design.
    "lti.login": (400, 400, 400, 400, 400, 400, 400),
    "lti.launch": (400, 400, 400, 400, 400, 400, 400),
    "lti.deep_link": (400, 400, 400, 400, 400, 400, 400),
    "lti.jwks": (200, 200, 200, 200, 200, 200, 200),
    "lti.course_link": (302, 302, 302, 302, 302, 302, 302),  # on to the course itself
}
# Bearer-token APIs: a browser's cookie gets nowhere, so there is no request to forge.
TOKEN_APIS = ("api.", "scim.")


def _rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def test_every_url_rule_has_an_entry_in_the_matrix(app: Flask) -> None:
    unknown = sorted({rule.endpoint for rule in _rules(app)} - MATRIX.keys())
    assert unknown == [], f"decide who may use these, then add them to MATRIX: {unknown}"
    assert sorted(MATRIX.keys() - {rule.endpoint for rule in _rules(app)}) == []


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_matrix_says(app: Flask, world: World, role: str) -> None:
    column = ROLES.index(role)
    got = {
        f"{rule.endpoint} {rule.rule}": _status(app, role, world, rule)
        for rule in _rules(app)
        if rule.endpoint in MATRIX
    }
    wanted = {
        f"{rule.endpoint} {rule.rule}": MATRIX[rule.endpoint][column]
        for rule in _rules(app)
        if rule.endpoint in MATRIX
    }
    assert got == wanted


def test_anonymous_visitors_are_sent_to_the_login_page(app: Flask, world: World) -> None:
    client = app.test_client()
    for rule in _rules(app):
        if MATRIX.get(rule.endpoint, (0,))[0] == LOGIN and "GET" in (rule.methods or set()):
            if rule.endpoint in ("training.index", "lti.course_link"):
                continue  # they send everyone to a page (My training, a course) that then asks
            location = client.get(_url(rule, world.values)).headers["Location"]
            assert location.startswith("/login"), rule.rule


def test_another_teams_record_looks_exactly_like_a_missing_one(app: Flask, world: World) -> None:
    """V4.2.1: ids outside one's scope give the same 404 as ids that do not exist."""
    for role, theirs, missing in (
        ("other_manager", f"/team/people/{world.values['user_id']}", "/team/people/999999"),
        ("employee", f"/attempts/{world.values['attempt_id']}", "/attempts/999999"),
    ):
        client = app.test_client()
        Auth(client).login(world.people[role].email, factories.PASSWORD)
        assert _status_and_body(client, theirs) == _status_and_body(client, missing)
        assert _status_and_body(client, theirs)[0] == 404


def _status_and_body(client: FlaskClient, url: str) -> tuple[int, str]:
    """The reply without its CSRF token, which carries the second it was made in."""
    response = client.get(url)
    return response.status_code, CSRF_VALUE.sub("", response.get_data(as_text=True))


# Reads of someone else's record are audited on purpose, a login remembers when it was last
# used, and a signed export first signs the ledger's head; none of it is a change the
# visitor asked for.
NOT_STATE = {"audit_events", "ledger_checkpoints"}
NOT_STATE_COLUMNS = {("login_sessions", "last_seen_at")}


def _everything(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the ones above, in a comparable form."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in NOT_STATE:
            continue
        columns = [c for c in table.columns if (table.name, c.name) not in NOT_STATE_COLUMNS]
        rows = session.execute(select(*columns)).all()
        tables[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return tables


@pytest.mark.parametrize("role", ROLES)
def test_a_crawl_of_every_get_route_changes_nothing(
    app: Flask, session: Session, world: World, role: str
) -> None:
    """ASVS 4.2.2 / 13.2.1: state changes need a POST with a CSRF token; GETs only read."""
    client = app.test_client()
    if role != "anonymous":
        Auth(client).login(world.people[role].email, factories.PASSWORD)
    session.expire_all()
    before = _everything(session)
    for rule in _rules(app):
        if "GET" in (rule.methods or set()):
            with client.get(_url(rule, world.values)):
                pass
    session.expire_all()
    assert _everything(session) == before


def test_every_post_route_refuses_a_request_without_a_csrf_token(
    app: Flask, session: Session, world: World
) -> None:
    """ASVS 4.2.2: even for an admin, a POST without the token is refused and changes nothing."""
    client = app.test_client()
    Auth(client).login(world.people["admin"].email, factories.PASSWORD)
    session.expire_all()
    before = _everything(session)
    posts = [rule for rule in _rules(app) if "POST" in (rule.methods or set())]
    assert len(posts) > 20
    for rule in posts:
        response = client.post(_url(rule, world.values), data={"name": "x", "email": "x@y.z"})
        refused = (401, 405) if rule.endpoint.startswith(TOKEN_APIS) else (400,)
        assert response.status_code in refused, rule.rule
    session.expire_all()
    assert _everything(session) == before
