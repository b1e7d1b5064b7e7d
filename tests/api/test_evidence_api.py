"""The evidence API: bearer tokens only in the header, scoped, audited; evidence as JSON."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.tokens import ApiToken, Scope, create_token, revoke
from tests.company import Company

pytestmark = pytest.mark.usefixtures("now")


@pytest.fixture
def token(session: Session, now: datetime) -> str:
    _, raw = create_token(session, name="HR system", scope=Scope.EVIDENCE, now=now)
    session.commit()
    return raw


@pytest.fixture
def with_ids(session: Session, company: Company) -> Company:
    for n, person in enumerate([company.a1, company.a2, company.b1], 1):
        person.external_id = f"EMP-{n}"
    session.commit()
    return company


def _get(client: FlaskClient, url: str, token: str | None) -> object:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, headers=headers)


def test_a_person_s_evidence_lists_every_required_course(
    client: FlaskClient, with_ids: Company, token: str
) -> None:
    response = _get(client, "/api/v1/people/EMP-1/evidence", token)
    assert response.status_code == 200  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert body["email"] == "ada.one@example.test"
    assert body["onboardingComplete"] is False  # crm is still open
    basics = next(c for c in body["courses"] if c["course"] == "basics")
    assert basics["status"] == "complete"
    assert basics["versionSha256"] == with_ids.course.sha256
    assert basics["score"] == 100
    assert basics["attestedAt"].endswith("Z")
    crm = next(c for c in body["courses"] if c["course"] == "crm")
    assert (crm["status"], crm["score"], crm["attestedAt"]) == ("overdue", None, None)


def test_unknown_person_is_a_404_problem(
    client: FlaskClient, with_ids: Company, token: str
) -> None:
    response = _get(client, "/api/v1/people/NOPE/evidence", token)
    assert response.status_code == 404  # type: ignore[attr-defined]
    assert response.mimetype == "application/problem+json"  # type: ignore[attr-defined]
    assert response.get_json()["status"] == 404  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, "", 401),
        ({"Authorization": "Basic abc"}, "", 401),
        ({"Authorization": "Bearer vern_not-a-real-token"}, "", 401),
        ({}, "?access_token=anything", 400),
    ],
)
def test_calls_without_a_valid_header_token_are_refused_and_audited(
    client: FlaskClient,
    session: Session,
    with_ids: Company,
    headers: dict[str, str],
    query: str,
    status: int,
) -> None:
    response = client.get(f"/api/v1/people/EMP-1/evidence{query}", headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    session.expire_all()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "api.evidence")).one()
    assert event.detail["outcome"].startswith("refused")


def test_a_token_in_the_url_is_refused_even_when_the_header_is_good(
    client: FlaskClient, with_ids: Company, token: str
) -> None:
    response = client.get(
        f"/api/v1/people/EMP-1/evidence?access_token={token}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400


def test_scope_and_revocation_are_enforced(
    client: FlaskClient, session: Session, with_ids: Company, token: str, now: datetime
) -> None:
    _, scim = create_token(session, name="IdP", scope=Scope.SCIM, now=now)
    session.commit()
    assert _get(client, "/api/v1/people/EMP-1/evidence", scim).status_code == 401  # type: ignore[attr-defined]
    stored = session.scalars(select(ApiToken).where(ApiToken.scope == "evidence")).one()
    assert token not in (stored.token_hash, stored.prefix)  # only a hash is kept
    revoke(session, stored.id, now)
    session.commit()
    assert _get(client, "/api/v1/people/EMP-1/evidence", token).status_code == 401  # type: ignore[attr-defined]


def test_accepted_calls_are_audited_and_mark_the_token_used(
    client: FlaskClient, session: Session, with_ids: Company, token: str, now: datetime
) -> None:
    _get(client, "/api/v1/people/EMP-2/evidence", token)
    session.expire_all()
    stored = session.scalars(select(ApiToken)).one()
    assert stored.last_used_at == now
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "api.evidence")).one()
    assert event.detail["outcome"] == "accepted"
    assert event.detail["path"] == "/api/v1/people/EMP-2/evidence"
    assert event.detail["token_name"] == "HR system"


def test_onboarding_cohort_is_paginated(
    client: FlaskClient, session: Session, with_ids: Company, token: str, now: datetime
) -> None:
    for n, person in enumerate([with_ids.a1, with_ids.a2, with_ids.b1]):
        person.start_date = (now - timedelta(days=10 + n)).date()
    session.commit()
    since = (now - timedelta(days=30)).date().isoformat()
    first = _get(client, f"/api/v1/onboarding?started_after={since}&per_page=2", token)
    body = first.get_json()  # type: ignore[attr-defined]
    assert body["total"] == 3
    assert [p["email"] for p in body["items"]] == ["bea.bee@example.test", "ari.two@example.test"]
    assert "page=2" in body["next"]
    second = client.get(body["next"], headers={"Authorization": f"Bearer {token}"})
    assert [p["email"] for p in second.get_json()["items"]] == ["ada.one@example.test"]
    assert second.get_json()["next"] is None


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?started_after=yesterday",
        "?started_after=2026-01-01&per_page=0",
        "?started_after=2026-01-01&page=-1",
        "?started_after=2026-01-01&per_page=500",
    ],
)
def test_bad_onboarding_parameters_are_400_problems(
    client: FlaskClient, with_ids: Company, token: str, query: str
) -> None:
    response = _get(client, f"/api/v1/onboarding{query}", token)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.get_json()["detail"]  # type: ignore[attr-defined]


def test_the_openapi_document_describes_the_api(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/people/{externalId}/evidence", "/onboarding"}
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_unknown_api_urls_answer_in_the_problem_format(app: Flask) -> None:
    response = app.test_client().get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_tokens_from_the_command_line(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(args=["lms", "tokens", "create", "--scope", "evidence", "Personio"])
    assert created.exit_code == 0, created.output
    raw = created.output.strip().splitlines()[-1]
    assert raw.startswith("vern_")
    listing = runner.invoke(args=["lms", "tokens", "list"]).output
    assert "Personio" in listing
    assert raw not in listing
    token_id = session.scalars(select(ApiToken.id)).one()
    assert runner.invoke(args=["lms", "tokens", "revoke", str(token_id)]).exit_code == 0
    assert runner.invoke(args=["lms", "tokens", "revoke", str(token_id)]).exit_code != 0
