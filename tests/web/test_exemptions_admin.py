"""Exemptions from the admin person page: HR grants and ends them; bad input re-renders with
the message at the field and changes nothing; the evidence page and API show them."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.tokens import Scope, create_token
from lms.training import exemptions
from lms.training.models import Exemption
from tests.company import Company
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def page_and_token(client: FlaskClient, person_id: int) -> tuple[str, str]:
    page = client.get(f"/admin/people/{person_id}").get_data(as_text=True)
    return page, csrf_token(page)


def crm_cycle_id(session: Session, company: Company) -> int:
    return next(
        a.id for a, key in exemptions.exemptable_cycles(session, company.a2) if key == "crm"
    )


def count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Exemption)) or 0


def test_hr_exempts_a_person_and_every_view_shows_it(
    client: FlaskClient, company: Company, session: Session, now: object
) -> None:
    Auth(client).login(company.hr.email, PASSWORD)
    page, token = page_and_token(client, company.a2.id)
    assert "No exemptions." in page
    response = client.post(
        f"/admin/people/{company.a2.id}/exemptions",
        data={
            "csrf_token": token,
            "course": str(crm_cycle_id(session, company)),
            "reason": "Holds CIPP/E no. 1234",
            "expires_on": "2030-01-01",
        },
    )
    assert response.status_code == 302
    assert count(session) == 1
    page = client.get(f"/admin/people/{company.a2.id}").get_data(as_text=True)
    assert "Holds CIPP/E no. 1234" in page
    evidence = client.get(f"/hr/people/{company.a2.id}").get_data(as_text=True)
    assert "Exempt until" in evidence

    _, raw = create_token(session, name="HR", scope=Scope.EVIDENCE, now=company.start)
    company.a2.external_id = "A2"
    session.commit()
    api = client.get("/api/v1/people/A2/evidence", headers={"Authorization": f"Bearer {raw}"})
    crm = next(c for c in api.get_json()["courses"] if c["course"] == "crm")
    assert crm["status"] == "exempt"
    assert crm["exemption"]["reason"] == "Holds CIPP/E no. 1234"
    assert crm["completedAt"] is None


@pytest.mark.parametrize(
    ("reason", "expires_on", "message"),
    [
        ("", "", "Say why"),
        ("Certified", "2001-01-01", "must be in the future"),
    ],
)
def test_a_bad_exemption_re_renders_with_the_message_and_writes_nothing(
    client: FlaskClient,
    company: Company,
    session: Session,
    reason: str,
    expires_on: str,
    message: str,
) -> None:
    Auth(client).login(company.hr.email, PASSWORD)
    _, token = page_and_token(client, company.a2.id)
    response = client.post(
        f"/admin/people/{company.a2.id}/exemptions",
        data={
            "csrf_token": token,
            "course": str(crm_cycle_id(session, company)),
            "reason": reason,
            "expires_on": expires_on,
        },
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count(session) == 0


def test_hr_ends_an_exemption(
    client: FlaskClient, company: Company, session: Session, now: object
) -> None:
    exemption = exemptions.grant(
        session, company.a2, crm_cycle_id(session, company), reason="Certified",
        expires_on=None, actor_id=None, now=company.start,
    )  # fmt: skip
    session.commit()
    Auth(client).login(company.hr.email, PASSWORD)
    page, token = page_and_token(client, company.a2.id)
    assert "End now" in page
    response = client.post(
        f"/admin/people/{company.a2.id}/exemptions/{exemption.id}/revoke",
        data={"csrf_token": token},
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get_one(Exemption, exemption.id).end_reason == "revoked"
    # someone else's exemption id under this person is a 404
    other = client.post(
        f"/admin/people/{company.b1.id}/exemptions/{exemption.id}/revoke",
        data={"csrf_token": token},
    )
    assert other.status_code == 404


def test_hr_cannot_exempt_themselves_but_an_admin_can_and_the_refusal_is_audited(
    client: FlaskClient, company: Company, session: Session
) -> None:
    """Nobody approves their own exemption: another HR person or an admin must."""
    own_cycle = next(a.id for a, _ in exemptions.exemptable_cycles(session, company.hr))
    fields = {"course": str(own_cycle), "reason": "I know this already"}
    Auth(client).login(company.hr.email, PASSWORD)
    _, token = page_and_token(client, company.hr.id)
    refused = client.post(
        f"/admin/people/{company.hr.id}/exemptions", data={"csrf_token": token, **fields}
    )
    assert refused.status_code == 400
    assert "You cannot exempt yourself" in refused.get_data(as_text=True)
    assert count(session) == 0
    audited = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "person.change_refused")
    ).one()
    assert (audited.actor_id, audited.subject_user_id) == (company.hr.id, company.hr.id)
    assert audited.detail["reason"] == "self_approval"

    admin = client.application.test_client()
    Auth(admin).login(company.admin.email, PASSWORD)
    _, token = page_and_token(admin, company.hr.id)
    granted = admin.post(
        f"/admin/people/{company.hr.id}/exemptions", data={"csrf_token": token, **fields}
    )
    assert granted.status_code == 302
    assert count(session) == 1
