"""Only admins change admins, and the last active admin stays: on the people pages, over SCIM
and with `lms people grant-role` / `revoke-role` (the operator's way to give a role back)."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.tokens import Scope, create_token
from lms.people.models import Role, User
from tests.api.test_scim import Scim, error
from tests.company import Company
from tests.conftest import Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def _as(client: FlaskClient, user: User) -> Auth:
    auth = Auth(client)
    auth.login(user.email, PASSWORD)
    return auth


def _fresh(session: Session, user: User) -> User:
    session.expire_all()
    return session.get_one(User, user.id)


def _refusals(session: Session) -> list[dict[str, object]]:
    session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == "person.change_refused")
    return [{"subject": e.subject_user_id, **e.detail} for e in session.scalars(query)]


def test_hr_cannot_let_an_admin_go_nor_change_them(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.hr)
    url = f"/admin/people/{company.admin.id}"
    page = client.get(url).get_data(as_text=True)
    assert "only an admin changes their details" in page
    assert f'action="{url}/deactivate"' not in page

    left = auth.post(f"{url}/deactivate", {}, page=page)
    edited = auth.post(url, {"department": "ops", "locale": "nb"}, page=page)

    assert (left.status_code, edited.status_code) == (403, 403)
    assert "Only an admin can change an admin" in left.get_data(as_text=True)
    admin = _fresh(session, company.admin)
    assert admin.active is True
    assert admin.department is None
    assert [(r["subject"], r["reason"]) for r in _refusals(session)] == [
        (company.admin.id, "admins_only"),
        (company.admin.id, "admins_only"),
    ]


def test_hr_still_looks_after_everyone_else(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.hr)
    url = f"/admin/people/{company.b1.id}"
    assert auth.post(f"{url}/deactivate", {}).status_code == 302
    assert _fresh(session, company.b1).active is False


def test_the_last_admin_cannot_drop_their_role_the_error_is_at_the_roles(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.admin)
    url = f"/admin/people/{company.admin.id}"
    response = auth.post(url, {"locale": "en", "roles": ["hr"]})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert 'id="roles-error"' in html
    assert "is the only active admin. Make someone else an admin first." in html
    assert _fresh(session, company.admin).roles == {Role.ADMIN}
    assert [r["reason"] for r in _refusals(session)] == ["last_active_admin"]


def test_the_last_admin_cannot_be_marked_as_left_but_one_of_two_can(
    client: FlaskClient, session: Session, company: Company, now: datetime
) -> None:
    auth = _as(client, company.admin)
    url = f"/admin/people/{company.admin.id}/deactivate"
    refused = auth.post(url, {}, page=client.get(f"/admin/people/{company.admin.id}").data.decode())
    assert refused.status_code == 409
    assert "is the only active admin" in refused.get_data(as_text=True)
    assert _fresh(session, company.admin).active is True

    page = client.get(f"/admin/people/{company.hr.id}").get_data(as_text=True)
    granted = auth.post(
        f"/admin/people/{company.hr.id}", {"locale": "en", "roles": ["hr", "admin"]}, page=page
    )
    assert granted.status_code == 302
    other = _as(app_client := client.application.test_client(), _fresh(session, company.hr))
    done = other.post(f"/admin/people/{company.admin.id}/deactivate", {})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert _fresh(session, company.admin).active is False
    assert app_client.get("/admin/people/").status_code == 200


@pytest.fixture
def scim(client: FlaskClient, session: Session, now: datetime, company: Company) -> Scim:
    _, raw = create_token(session, name="Okta", scope=Scope.SCIM, now=now)
    session.commit()
    return Scim(client, raw)


@pytest.mark.parametrize("how", ["patch", "put", "delete"])
def test_scim_cannot_deactivate_or_delete_the_last_admin(
    scim: Scim, session: Session, company: Company, how: str
) -> None:
    path = f"/Users/{company.admin.id}"
    if how == "patch":
        response = scim.patch(path, {"op": "replace", "path": "active", "value": False})
    elif how == "put":
        current = scim.get(path).get_json()
        response = scim.call("PUT", path, {**current, "active": False})
    else:
        response = scim.call("DELETE", path)
    assert error(response) == (400, "mutability")
    assert "only active admin" in response.get_json()["detail"]
    admin = _fresh(session, company.admin)
    assert (admin.active, admin.scim_deleted_at) == (True, None)
    # Anyone else goes as before.
    assert scim.call("DELETE", f"/Users/{company.b1.id}").status_code == 204


def test_the_operator_grants_and_revokes_roles_from_the_command_line(
    app: Flask, session: Session, company: Company
) -> None:
    runner = app.test_cli_runner()
    granted = runner.invoke(args=["lms", "people", "grant-role", company.b1.email, "admin"])
    assert granted.exit_code == 0, granted.output
    assert f"{company.b1.email} now has the roles: admin" in granted.output
    assert _fresh(session, company.b1).roles == {Role.ADMIN}

    again = runner.invoke(args=["lms", "people", "grant-role", company.b1.email, "admin"])
    assert "already has the role admin" in again.output

    revoked = runner.invoke(args=["lms", "people", "revoke-role", company.admin.email, "admin"])
    assert revoked.exit_code == 0, revoked.output
    last = runner.invoke(args=["lms", "people", "revoke-role", company.b1.email, "admin"])
    assert last.exit_code == 1
    assert "is the only active admin; grant admin to someone else first" in last.output
    assert _fresh(session, company.b1).roles == {Role.ADMIN}

    nobody = runner.invoke(args=["lms", "people", "grant-role", "nobody@example.test", "hr"])
    assert (nobody.exit_code, "nobody has the email" in nobody.output) == (1, True)
    bad = runner.invoke(args=["lms", "people", "grant-role", company.b1.email, "owner"])
    assert bad.exit_code == 2  # not a role
    session.expire_all()
    audited = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "person.update", AuditEvent.actor_id.is_(None)
        )
    ).all()
    assert [e.detail["changes"]["roles"] for e in audited] == [[[], ["admin"]], [["admin"], []]]


def test_the_last_admin_cannot_be_erased_either(
    client: FlaskClient, session: Session, company: Company
) -> None:
    """Erasing needs someone who has left, and the last active admin cannot leave."""
    auth = _as(client, company.admin)
    url = f"/admin/people/{company.admin.id}"
    refused = auth.post(f"{url}/erase", {"confirm": "y"}, page=client.get(url).data.decode())
    assert refused.status_code == 400
    assert "an active person is never erased" in refused.get_data(as_text=True)
    assert _fresh(session, company.admin).email == company.admin.email
