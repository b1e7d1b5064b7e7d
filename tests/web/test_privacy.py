"""My data and erasure over HTTP: one's own data only, in one click; admins erase leavers."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.lti import platforms
from lms.integrations.lti.models import LtiLaunch
from lms.people.models import User
from lms.people.service import deactivate
from lms.reminders.outbox import enqueue
from tests.company import Company
from tests.conftest import SECRET_KEY, Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def signed_in(client: FlaskClient, person: User) -> FlaskClient:
    Auth(client).login(person.email, PASSWORD)
    return client


def test_my_data_holds_everything_about_me_and_nothing_about_others(
    client: FlaskClient, company: Company, session: Session
) -> None:
    me = company.a1
    for key, to, cc in (
        ("reminder:mine", [me.id], [company.lead_a.id]),  # to me, my manager in copy
        ("reminder:copy", [company.a2.id], [me.id]),  # about my report, me in copy
        ("reminder:theirs", [me.id * 10 + 1], []),  # someone whose id merely contains mine
    ):
        enqueue(
            session, key=key, kind="reminder", payload={"to": to, "cc": cc, "stage": "due"},
            now=company.start, domain="example.test",
        )  # fmt: skip
    platform = platforms.register(
        session,
        platforms.PlatformDetails(
            name="Moodle", issuer="https://lms.example.test", client_id="c", deployment_ids=["d"],
            auth_login_url="https://lms.example.test/a", auth_token_url="https://lms.example.test/t",
            key_set_url="https://lms.example.test/k",
        ),
        company.start,
        keys=SECRET_KEY,
    )  # fmt: skip
    for person, subject in ((me, "lms-me"), (company.a2, "lms-a2")):
        session.add(
            LtiLaunch(
                platform_id=platform.id, user_id=person.id, subject=subject, course_key="basics",
                deployment_id="d", ags_scopes=[], launched_at=company.start,
            )
        )  # fmt: skip
    session.commit()
    page = signed_in(client, me).get("/my-data")
    assert page.status_code == 200
    assert f"/my-data/{me.id}.json" in page.get_data(as_text=True)

    response = client.get(f"/my-data/{me.id}.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.get_data(as_text=True))
    assert data["profile"]["email"] == me.email
    basics = next(a for a in data["assignments"] if a["course"] == "basics")
    assert basics["quiz_attempts"][0]["your_answers"]
    assert data["attestations"][0]["typed_name"] == me.full_name
    assert data["logins"]  # this very login
    launches = [(item["lms"], item["your_id_there"]) for item in data["lms_launches"]]
    assert launches == [("Moodle", "lms-me")]
    assert [m["you_were"] for m in data["mail_sent_to_you"]] == ["recipient", "in copy"]
    assert [e["kind"] for e in data["ledger"]["entries"]] == [
        "quiz_result",
        "attestation",
        "completion",
    ]
    assert data["ledger"]["entries"][1]["your_personal_fields"]["typed_name"] == me.full_name
    text = json.dumps(data)
    others = [company.a2, company.lead_a, company.b1, company.hr, company.boss]
    assert not [other.email for other in others if other.email in text]
    assert data["profile"]["manager"] == company.lead_a.full_name  # the one colleague named
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "export.my_data"))
    assert event is not None
    assert (event.actor_id, event.subject_user_id) == (me.id, me.id)


def test_someone_else_s_data_url_is_a_404(client: FlaskClient, company: Company) -> None:
    signed_in(client, company.hr)
    assert client.get(f"/my-data/{company.a1.id}.json").status_code == 404
    assert client.get("/my-data/999999.json").status_code == 404


def _erase(client: FlaskClient, person: User, confirm: bool = True) -> object:
    from tests.conftest import csrf_token

    page = client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page)}
    if confirm:
        data["confirm"] = "y"
    return client.post(f"/admin/people/{person.id}/erase", data=data)


def test_an_admin_erases_a_leaver_but_never_an_active_person(
    client: FlaskClient, company: Company, session: Session, now: datetime
) -> None:
    signed_in(client, company.admin)
    refused = _erase(client, company.b1)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "Mark the person as left first" in refused.get_data(as_text=True)  # type: ignore[attr-defined]

    deactivate(session, company.b1, now)
    session.commit()
    unconfirmed = _erase(client, company.b1, confirm=False)
    assert unconfirmed.status_code == 400  # type: ignore[attr-defined]
    assert "Tick the box" in unconfirmed.get_data(as_text=True)  # type: ignore[attr-defined]

    done = _erase(client, company.b1)
    assert done.status_code == 302  # type: ignore[attr-defined]
    session.expire_all()
    person = session.get_one(User, company.b1.id)
    assert person.email.endswith("@erased.invalid")
    page = client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    assert "has been erased" in page
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "person.erase"))
    assert event is not None
    assert event.actor_id == company.admin.id


def test_the_settings_page_shows_retention_and_the_public_key(
    client: FlaskClient, company: Company, settings: object
) -> None:
    from lms.evidence import keys

    signed_in(client, company.admin)
    missing = client.get("/admin/settings").get_data(as_text=True)
    assert "lms ledger init" in missing
    key = keys.create_key(settings.ledger_key)  # type: ignore[attr-defined]
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "2192 days" in page
    assert keys.public_pem(key.public_key()).splitlines()[1] in page
