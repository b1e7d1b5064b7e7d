"""Dashboards over HTTP: who may open what, foreign ids, audit, exports, bad input, nudges."""

from __future__ import annotations

import csv
import io
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.people.models import User
from lms.reminders.models import OutboxMessage
from lms.training.cycles import assign_courses
from lms.training.models import Assignment
from tests import factories
from tests.company import Company
from tests.conftest import Auth
from tests.factories import PASSWORD
from tests.unit.reports.test_spreadsheet import assert_every_field_quoted

pytestmark = pytest.mark.usefixtures("now")


def _as(client: FlaskClient, user: User) -> Auth:
    auth = Auth(client)
    auth.login(user.email, PASSWORD)
    return auth


def _assignment(session: Session, user: User, course: str = "basics") -> Assignment:
    return next(
        a
        for a in session.scalars(select(Assignment).where(Assignment.user_id == user.id))
        if a.course_version.definition.key == course
    )


def _audit_actions(session: Session, actor: User) -> list[tuple[str, int | None]]:
    session.expire_all()
    return [
        (e.action, e.subject_user_id)
        for e in session.scalars(
            select(AuditEvent).where(AuditEvent.actor_id == actor.id).order_by(AuditEvent.id)
        )
        if e.action != "login"
    ]


def test_manager_dashboard_shows_the_team_and_is_audited(
    client: FlaskClient, session: Session, company: Company
) -> None:
    _as(client, company.lead_a)
    html = client.get("/team").get_data(as_text=True)
    assert "Ada One" in html
    assert "Ari Two" in html
    assert "Bea Bee" not in html
    assert "<svg" in html
    assert _audit_actions(session, company.lead_a) == [("view.team_dashboard", None)]


def test_people_without_reports_cannot_open_the_team_view(
    client: FlaskClient, company: Company
) -> None:
    _as(client, company.a2)
    assert client.get("/team").status_code == 403
    assert client.get("/team/export.csv").status_code == 403


def test_every_team_url_with_another_teams_ids_is_404(
    client: FlaskClient, session: Session, company: Company
) -> None:
    """Scope lives in the queries: a foreign id finds nothing, whatever the URL."""
    auth = _as(client, company.lead_a)
    foreign = _assignment(session, company.b1)
    page = client.get("/team").get_data(as_text=True)
    assert client.get(f"/team/people/{company.b1.id}").status_code == 404
    assert client.get(f"/team/people/{company.boss.id}").status_code == 404
    assert auth.post(f"/team/nudge/{foreign.id}", page=page).status_code == 404
    assert auth.post("/team/nudge/999999", page=page).status_code == 404
    for url in (
        f"/hr/people/{company.b1.id}",
        f"/hr/people/{company.b1.id}/evidence.json",
        f"/hr/people/{company.b1.id}/evidence.pdf",
        "/hr",
        "/hr/export.csv",
        "/hr/onboarding",
        "/hr/as-of",
        "/admin/audit",
    ):
        assert client.get(url).status_code == 403, url
    assert client.get(f"/team/people/{company.a2.id}").status_code == 200


def test_drill_down_shows_attempts_and_attestation_and_is_audited(
    client: FlaskClient, session: Session, company: Company
) -> None:
    _as(client, company.lead_a)
    html = client.get(f"/team/people/{company.a1.id}").get_data(as_text=True)
    assert company.course.sha256 in html
    assert company.course.attestation["en"] in html
    assert "100%" in html
    assert ("view.person_record", company.a1.id) in _audit_actions(session, company.lead_a)


def test_nudge_writes_one_reminder_a_day_through_the_outbox(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.lead_a)
    overdue = _assignment(session, company.a2)
    page = client.get("/team").get_data(as_text=True)
    assert auth.post(f"/team/nudge/{overdue.id}", page=page).status_code == 302
    assert "will get a reminder from you" in client.get("/team").get_data(as_text=True)
    auth.post(f"/team/nudge/{overdue.id}", page=page)
    assert "already nudged" in client.get("/team").get_data(as_text=True)
    session.expire_all()
    rows = session.scalars(select(OutboxMessage)).all()
    assert len(rows) == 1
    assert rows[0].payload["to"] == [company.a2.id]
    assert rows[0].payload["from_manager"] == company.lead_a.id
    done = _assignment(session, company.a1)
    auth.post(f"/team/nudge/{done.id}", page=page)
    assert "Only overdue training can be nudged" in client.get("/team").get_data(as_text=True)


def test_team_csv_is_exactly_what_the_filters_show(
    client: FlaskClient, session: Session, company: Company
) -> None:
    _as(client, company.lead_a)
    response = client.get("/team/export.csv?line=direct&course=basics")
    assert response.status_code == 200
    lines = response.get_data(as_text=True).strip().splitlines()
    assert lines[0].startswith('"name","email","department"')
    assert len(lines) == 2
    assert lines[1].startswith('"Ada One","ada.one@example.test","Sales","yes","basics","complete"')
    assert ("export.team_csv", None) in _audit_actions(session, company.lead_a)


def test_team_csv_quotes_every_field_and_neutralises_formulas(
    client: FlaskClient, session: Session, company: Company
) -> None:
    """A `;` in a name must not split cells in a Norwegian Excel, nor a later cell run."""
    company.a1.full_name = "Ada; =1+1"
    company.a1.department.name = "-2+3"
    session.flush()
    _as(client, company.lead_a)
    text = client.get("/team/export.csv?line=direct&course=basics").get_data(as_text=True)
    assert_every_field_quoted(text)
    ada = next(csv.reader(io.StringIO(text.split("\r\n")[1])))
    assert ada[:3] == ["Ada; =1+1", "ada.one@example.test", "'-2+3"]


@pytest.mark.parametrize("query", ["status=sideways", "course=nope", "line=diagonal"])
def test_bad_filters_get_a_message_on_the_page_and_400_on_export(
    client: FlaskClient, company: Company, query: str
) -> None:
    _as(client, company.lead_a)
    page = client.get(f"/team?{query}")
    assert page.status_code == 400
    assert "Some filters were not valid" in page.get_data(as_text=True)
    export = client.get(f"/team/export.csv?{query}")
    assert export.status_code == 400
    assert "Not a valid choice" in export.get_data(as_text=True)


def test_hr_sees_the_organisation_and_evidence(
    client: FlaskClient, session: Session, company: Company
) -> None:
    _as(client, company.hr)
    overview = client.get("/hr").get_data(as_text=True)
    assert "Sales" in overview
    assert "Ari Two" in overview  # overdue list
    assert client.get("/hr/onboarding").status_code == 200
    assert client.get("/hr/as-of?day=2026-02-15").status_code == 200
    evidence = client.get(f"/hr/people/{company.a1.id}/evidence.json")
    data = json.loads(evidence.get_data(as_text=True))
    basics = next(c for c in data["courses"] if c["course"] == "basics")
    assert basics["attestation"]["version_sha256"] == company.course.sha256
    assert basics["attestation"]["typed_name"] == "Ada One"
    assert basics["attempts"][0]["score_percent"] == 100
    pdf = client.get(f"/hr/people/{company.a1.id}/evidence.pdf")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF")
    csv_text = client.get("/hr/export.csv?start=2025-12-01&end=2026-03-02").get_data(as_text=True)
    assert "ada.one@example.test" in csv_text
    actions = _audit_actions(session, company.hr)
    assert ("export.evidence_json", company.a1.id) in actions
    assert ("export.evidence_pdf", company.a1.id) in actions
    assert ("export.completions_csv", None) in actions


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/hr/export.csv?start=2026-03-01&end=2026-01-01", 400),
        ("/hr/export.csv?start=yesterday", 400),
        ("/hr/as-of?day=2099-01-01", 400),
        ("/hr/as-of?day=not-a-date", 400),
        ("/hr/onboarding?days=-4", 400),
        ("/hr/people/999999", 404),
    ],
)
def test_bad_hr_input_is_a_clear_error_never_a_500(
    client: FlaskClient, company: Company, url: str, status: int
) -> None:
    _as(client, company.hr)
    assert client.get(url).status_code == status


def test_auditors_read_the_hr_views_but_change_nothing(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.auditor)
    assert client.get("/hr").status_code == 200
    assert client.get(f"/hr/people/{company.a1.id}").status_code == 200
    page = client.get("/training").get_data(as_text=True)
    assert auth.post("/account", {"locale": "nb", "timezone": "UTC"}, page=page).status_code == 403
    assert client.get("/admin/outbox").status_code == 403
    assert client.get("/team").status_code == 403


def test_admins_page_through_and_export_the_audit_trail(
    client: FlaskClient, session: Session, company: Company
) -> None:
    _as(client, company.hr)
    client.get(f"/hr/people/{company.a1.id}")
    client.post("/logout", data={"csrf_token": ""})
    admin_client = client.application.test_client()
    _as(admin_client, company.admin)
    html = admin_client.get("/admin/audit?action=view.person_record").get_data(as_text=True)
    assert "hal.hr@example.test" in html
    assert "ada.one@example.test" in html
    csv_text = admin_client.get(f"/admin/audit.csv?subject={company.a1.email}").get_data(
        as_text=True
    )
    assert "view.person_record" in csv_text
    assert_every_field_quoted(csv_text)
    assert admin_client.get("/admin/audit?start=2026-03-01&end=2026-01-01").status_code == 400
    assert ("export.audit_csv", None) in _audit_actions(session, company.admin)


def test_the_audit_trail_pages_through_many_events(
    client: FlaskClient, session: Session, company: Company, now
) -> None:  # noqa: ANN001
    from lms.audit.service import record

    for i in range(120):
        record(
            session,
            action="view.person_record",
            now=now,
            actor_id=company.hr.id,
            subject_user_id=company.a1.id,
            ip="192.0.2.9",
            n=i,
        )
    session.commit()
    _as(client, company.admin)
    first = client.get("/admin/audit")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "Page 1 of 3" in html
    assert "page=2" in html
    assert "Page 3 of 3" in client.get("/admin/audit?page=3").get_data(as_text=True)
    assert "Page 3 of 3" in client.get("/admin/audit?page=99").get_data(as_text=True)


def test_form_errors_on_norwegian_pages_are_in_norwegian(
    client: FlaskClient, session: Session, company: Company
) -> None:
    company.hr.locale = "nb"
    session.commit()
    _as(client, company.hr)
    html = client.get("/hr/onboarding?days=abc").get_data(as_text=True)
    assert "Not a valid" not in html
    assert 'class="error-message"' in html


def test_a_large_reporting_line_is_shown_a_page_of_fifty_at_a_time(
    client: FlaskClient, session: Session, company: Company
) -> None:
    for n in range(60):
        factories.user(session, company.start, name=f"Zed Report{n:02d}", manager=company.lead_b)
    assign_courses(session, company.start)
    session.commit()
    _as(client, company.lead_b)
    first = client.get("/team").get_data(as_text=True)
    assert "Page 1 of 2" in first
    second = client.get("/team?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second
    shown = first.count('href="/team/people/') + second.count('href="/team/people/')
    assert shown == 61  # Bea and the 60 new reports, each exactly once
    assert "Page 2 of 2" in client.get("/team?page=99").get_data(as_text=True)
