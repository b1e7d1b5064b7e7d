"""LTI under the outbound policy: key sets and gradebooks are reached only where the policy
allows, and what a platform answers never reaches a page, the audit trail or the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms import create_app
from lms.catalog.definition import CourseDefinition
from lms.config import Settings
from lms.db import Database
from lms.integrations.lti import keys, platforms
from lms.integrations.lti.models import LtiToolKey
from lms.people import crypto
from lms.people.models import User
from tests.conftest import SECRET_KEY, Auth
from tests.factories import PASSWORD
from tests.http_stub import Reply, Stub, running
from tests.lti_platform import TestPlatform
from tests.web.test_lti import _launch, _refusal_causes, basics, platform  # noqa: F401 - fixtures

SECRET_PAGE = "<html>intranet: payroll export ready</html>"


@pytest.fixture
def html_server() -> Iterator[Stub]:
    """Answers every GET with an HTML page (a key set URL pointing at the wrong thing)."""
    with running(Reply(200, SECRET_PAGE.encode(), {"Content-Type": "text/html"})) as stub:
        yield stub


def _paths(stub: Stub) -> list[str]:
    return [seen.path for seen in stub.requests]


def _register(session: Session, lms: TestPlatform, now: datetime, **changes: str) -> None:
    platforms.register(
        session,
        platforms.PlatformDetails(**lms.registration(**changes)),
        now,
        keys=SECRET_KEY,
        allow_http=True,
    )
    session.commit()


def test_a_key_set_url_that_answers_a_page_refuses_the_launch_without_showing_the_page(
    client: FlaskClient,
    session: Session,
    platform: TestPlatform,  # noqa: F811
    basics: CourseDefinition,  # noqa: F811
    html_server: Stub,
    admin: User,
    auth: Auth,
    now: datetime,
) -> None:
    _register(session, platform, now, key_set_url=html_server.address("/jwks"))
    response = _launch(client, platform)
    assert response.status_code == 400
    assert _paths(html_server) == ["/jwks"]
    (cause,) = _refusal_causes(session)
    assert "not JSON" in cause
    assert "payroll" not in cause
    auth.login(admin.email, PASSWORD)
    page = client.get("/admin/lti/").get_data(as_text=True)
    assert "not JSON" in page
    assert "payroll" not in page


def test_a_platform_on_loopback_is_not_asked_for_its_keys_unless_the_operator_allows_it(
    settings: Settings,
    database: Database,
    session: Session,
    platform: TestPlatform,  # noqa: F811
    basics: CourseDefinition,  # noqa: F811
    html_server: Stub,
    now: datetime,
) -> None:
    strict: Flask = create_app(settings.with_overrides(outbound_allow=()), database=database)
    _register(session, platform, now, key_set_url=html_server.address("/jwks"))
    response = _launch(strict.test_client(), platform)
    assert response.status_code == 400
    assert _paths(html_server) == []
    (cause,) = _refusal_causes(session)
    assert "not a public address" in cause


def test_the_tool_key_is_stored_encrypted_and_its_public_half_published(
    client: FlaskClient, session: Session, now: datetime
) -> None:
    key = keys.ensure_key(session, now, SECRET_KEY)
    session.commit()
    stored = session.scalars(select(LtiToolKey)).one()
    assert "PRIVATE KEY" not in stored.private_pem_encrypted
    assert "PRIVATE KEY" in keys.private_pem(stored, SECRET_KEY)
    assert keys.public_pem_of(keys.private_pem(stored, SECRET_KEY)) == stored.public_pem
    with pytest.raises(crypto.SecretUnreadable):
        keys.private_pem(stored, "another-secret-key-" + "y" * 32)
    published = client.get("/lti/jwks.json").get_json()
    assert [k["kid"] for k in published["keys"]] == [key.kid]
