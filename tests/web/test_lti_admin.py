"""Registering LMS platforms: the admin page and the CLI check every field, say which one is
wrong, change nothing on a mistake, and audit what they do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.lti.models import LtiPlatform, LtiToolKey
from lms.people.models import User
from tests.conftest import Auth
from tests.factories import PASSWORD
from tests.lti_platform import TestPlatform

pytestmark = pytest.mark.usefixtures("now")
PAGE = "/admin/lti/"


def _form(platform: TestPlatform, **overrides: str) -> dict[str, str]:
    registration = platform.registration()
    return {
        "name": registration["name"],
        "issuer": registration["issuer"],
        "client_id": registration["client_id"],
        "deployment_ids": "deployment-1\ndeployment-2\n",
        "auth_login_url": registration["auth_login_url"],
        "auth_token_url": registration["auth_token_url"],
        "key_set_url": registration["key_set_url"],
        "key_set": "",
        "department_claim": "department",
        **overrides,
    }


def _platforms(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(LtiPlatform)) or 0


@pytest.fixture
def signed_in(client: FlaskClient, admin: User) -> Auth:
    auth = Auth(client)
    auth.login(admin.email, PASSWORD)
    return auth


def test_the_page_tells_the_admin_what_to_enter_in_the_platform(
    client: FlaskClient, signed_in: Auth
) -> None:
    page = client.get(PAGE).get_data(as_text=True)
    for url in ("/lti/login", "/lti/launch", "/lti/jwks.json", "/lti/courses/COURSE"):
        assert f"http://localhost{url}</code>" in page


def test_an_admin_registers_a_platform_and_vern_gets_its_key(
    client: FlaskClient, session: Session, signed_in: Auth
) -> None:
    platform = TestPlatform()  # not started: registering fetches nothing
    response = signed_in.post(PAGE + "platforms", _form(platform, provisions_users="y"))
    assert response.status_code == 302
    registered = session.scalars(select(LtiPlatform)).one()
    assert registered.deployment_ids == ["deployment-1", "deployment-2"]
    assert registered.provisions_users
    assert session.scalar(select(func.count()).select_from(LtiToolKey)) == 1
    assert session.scalars(select(AuditEvent.action)).all()[-1] == "lti.platform.register"
    page = client.get(PAGE).get_data(as_text=True)
    assert "Test LMS" in page
    assert "department from “department”" in page
    assert 'aria-label="Switch off Test LMS"' in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"key_set_url": ""}, "key_set_url", "either the platform&#39;s JWKS URL or its keys"),
        ({"key_set_url": "", "key_set": "{not json"}, "key_set", "not JSON"),
        ({"key_set_url": "", "key_set": '{"keys": []}'}, "key_set", "at least one key"),
        ({"auth_token_url": "ftp://lms.example/token"}, "auth_token_url", "https://"),
        ({"deployment_ids": "  \n "}, "deployment_ids", "deployment ID"),
        ({"name": ""}, "name", "Name the platform."),
    ],
)
def test_a_mistake_is_shown_at_its_field_and_nothing_is_registered(
    session: Session,
    signed_in: Auth,
    overrides: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = signed_in.post(PAGE + "platforms", _form(TestPlatform(), **overrides))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error = html.split(f'id="{field}-error">')[1].split("</p>")[0]
    assert message in error
    assert _platforms(session) == 0


def test_the_same_issuer_and_client_id_cannot_be_registered_twice(
    session: Session, signed_in: Auth
) -> None:
    form = _form(TestPlatform())
    assert signed_in.post(PAGE + "platforms", form).status_code == 302
    again = signed_in.post(PAGE + "platforms", form)
    assert again.status_code == 400
    assert "registered already" in again.get_data(as_text=True)
    assert _platforms(session) == 1


def test_a_switched_off_platform_launches_nothing_until_switched_on(
    client: FlaskClient, session: Session, signed_in: Auth
) -> None:
    signed_in.post(PAGE + "platforms", _form(TestPlatform()))
    platform = session.scalars(select(LtiPlatform)).one()
    signed_in.post(PAGE + f"platforms/{platform.id}/active", {"active": "0"})
    session.expire_all()
    assert not session.get(LtiPlatform, platform.id).active  # type: ignore[union-attr]
    refused = client.post(
        "/lti/login",
        data={
            "iss": platform.issuer,
            "client_id": platform.client_id,
            "login_hint": "x",
            "target_link_uri": "http://localhost/lti/courses/basics",
        },
    )
    assert refused.status_code == 400
    signed_in.post(PAGE + f"platforms/{platform.id}/active", {"active": "1"})
    session.expire_all()
    assert session.get(LtiPlatform, platform.id).active  # type: ignore[union-attr]


def test_the_cli_registers_lists_and_switches_platforms(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(
        json.dumps({"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]})
    )
    arguments = [
        "lms",
        "lti",
        "add-platform",
        "Canvas",
        "--issuer",
        "https://canvas.instructure.com",
        "--client-id",
        "10000000000001",
        "--deployment",
        "1:abc",
        "--auth-login-url",
        "https://sso.canvaslms.com/api/lti/authorize_redirect",
        "--auth-token-url",
        "https://sso.canvaslms.com/login/oauth2/token",
        "--jwks-file",
        str(keys_file),
    ]
    added = runner.invoke(args=arguments)
    assert added.exit_code == 0, added.output
    assert "/lti/jwks.json" in added.output
    assert "Canvas" in runner.invoke(args=["lms", "lti", "platforms"]).output
    again = runner.invoke(args=arguments)
    assert again.exit_code != 0
    assert "registered already" in again.output
    broken = runner.invoke(args=[*arguments[:4], "--issuer", "not a url", *arguments[6:]])
    assert broken.exit_code != 0
    assert "issuer" in broken.output
    platform_id = session.scalars(select(LtiPlatform.id)).one()
    assert runner.invoke(args=["lms", "lti", "switch-off", str(platform_id)]).exit_code == 0
    assert "switched off" in runner.invoke(args=["lms", "lti", "platforms"]).output
    assert runner.invoke(args=["lms", "lti", "switch-off", "999"]).exit_code != 0


def test_an_admin_decides_which_platforms_may_find_people_by_email(
    client: FlaskClient, session: Session, signed_in: Auth
) -> None:
    """Off unless asked for, at registration or later; each change is audited."""
    platform = TestPlatform()
    assert signed_in.post(PAGE + "platforms", _form(platform)).status_code == 302
    registered = session.scalars(select(LtiPlatform)).one()
    assert not registered.matches_by_email
    page = client.get(PAGE).get_data(as_text=True)
    assert 'aria-label="Allow finding people by email from Test LMS"' in page
    allowed = signed_in.post(
        PAGE + f"platforms/{registered.id}/email-trust", {"trusted": "1"}, page=page
    )
    assert allowed.status_code == 302
    session.expire_all()
    assert session.get_one(LtiPlatform, registered.id).matches_by_email
    event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert (event.action, event.detail["trusted"]) == ("lti.platform.email_trust", True)
    assert "Stop finding people by email from Test LMS" in client.get(PAGE).get_data(as_text=True)

    other = TestPlatform()
    form = _form(other, client_id="other-client", matches_by_email="y")
    assert signed_in.post(PAGE + "platforms", form).status_code == 302
    second = session.scalars(select(LtiPlatform).where(LtiPlatform.client_id == "other-client"))
    assert second.one().matches_by_email


def test_the_cli_switches_finding_people_by_email(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    arguments = [
        "lms",
        "lti",
        "add-platform",
        "Moodle",
        "--issuer",
        "https://moodle.example.test",
        "--client-id",
        "vern",
        "--deployment",
        "1",
        "--auth-login-url",
        "https://moodle.example.test/auth",
        "--auth-token-url",
        "https://moodle.example.test/token",
        "--jwks-url",
        "https://moodle.example.test/jwks",
        "--match-email",
    ]
    assert runner.invoke(args=arguments).exit_code == 0
    platform = session.scalars(select(LtiPlatform)).one()
    assert platform.matches_by_email
    assert "finds people by email" in runner.invoke(args=["lms", "lti", "platforms"]).output
    off = runner.invoke(args=["lms", "lti", "email-trust", str(platform.id), "off"])
    assert off.exit_code == 0, off.output
    session.expire_all()
    assert not session.get_one(LtiPlatform, platform.id).matches_by_email
    assert runner.invoke(args=["lms", "lti", "email-trust", "999", "on"]).exit_code != 0
