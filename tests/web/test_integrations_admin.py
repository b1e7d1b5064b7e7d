"""The integrations page: admins make tokens and webhooks; secrets are shown once, audited."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.tokens import ApiToken
from lms.integrations.webhooks import WebhookEndpoint
from tests.company import Company
from tests.conftest import Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def _as(client: FlaskClient, email: str) -> Auth:
    auth = Auth(client)
    auth.login(email, PASSWORD)
    return auth


def _actions(session: Session) -> list[str]:
    session.expire_all()
    return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_only_admins_open_the_integrations_page(client: FlaskClient, company: Company) -> None:
    _as(client, company.hr.email)
    assert client.get("/admin/integrations/").status_code == 403


def test_a_token_is_shown_once_stored_hashed_and_revocable(
    client: FlaskClient, session: Session, company: Company, now: datetime
) -> None:
    auth = _as(client, company.admin.email)
    page = client.get("/admin/integrations/").get_data(as_text=True)
    response = auth.post(
        "/admin/integrations/tokens",
        {"token-name": "Personio", "token-scope": "evidence"},
        page=page,
    )
    assert response.status_code == 200
    raw = re.search(r"<code class=\"hash\">(vern_[^<]+)</code>", response.get_data(as_text=True))
    assert raw
    again = client.get("/admin/integrations/").get_data(as_text=True)
    assert raw.group(1) not in again  # shown once
    assert "Personio" in again
    token = session.scalars(select(ApiToken)).one()
    assert raw.group(1) not in (token.token_hash, token.prefix)
    auth.post(f"/admin/integrations/tokens/{token.id}/revoke", page=again)
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at == now  # type: ignore[union-attr]
    assert _actions(session)[-2:] == ["token.create", "token.revoke"]


def test_bad_forms_are_shown_with_messages_and_write_nothing(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.admin.email)
    page = client.get("/admin/integrations/").get_data(as_text=True)
    response = auth.post(
        "/admin/integrations/tokens", {"token-name": "", "token-scope": "x"}, page=page
    )
    assert response.status_code == 400
    assert 'id="token-name-error"' in response.get_data(as_text=True)
    response = auth.post(
        "/admin/integrations/webhooks",
        {"webhook-url": "ftp://nope", "webhook-events": []},
        page=page,
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="webhook-url-error"' in html
    assert 'id="webhook-events-error"' in html
    assert session.scalars(select(ApiToken)).all() == []
    assert session.scalars(select(WebhookEndpoint)).all() == []


def test_a_webhook_is_added_with_its_secret_shown_once_and_removed(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.admin.email)
    page = client.get("/admin/integrations/").get_data(as_text=True)
    response = auth.post(
        "/admin/integrations/webhooks",
        {
            "webhook-url": "https://hr.example.test/hooks",
            "webhook-events": ["attestation.signed", "assignment.overdue"],
        },
        page=page,
    )
    assert response.status_code == 200
    assert "whsec_" in response.get_data(as_text=True)
    endpoint = session.scalars(select(WebhookEndpoint)).one()
    assert endpoint.events == ["assignment.overdue", "attestation.signed"]
    page = client.get("/admin/integrations/").get_data(as_text=True)
    assert "whsec_" not in page
    auth.post(f"/admin/integrations/webhooks/{endpoint.id}/remove", page=page)
    session.expire_all()
    assert session.get(WebhookEndpoint, endpoint.id).active is False  # type: ignore[union-attr]
    assert _actions(session)[-2:] == ["webhook.add", "webhook.remove"]
