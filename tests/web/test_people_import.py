"""The people import page: HR and admins only, preview with problems by line, then apply."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from lms.admin import people_import as importer
from lms.audit.models import AuditEvent
from lms.people.models import Role, User
from tests import factories
from tests.conftest import Auth, csrf_token

URL = "/admin/people/import"
HEADER = "external_id,email,full_name,department,manager_external_id\n"
GOOD = (
    HEADER + "E2,ola@example.test,Ola Importert,sales,E1\nE1,kari.i@example.test,Kari Importert,,\n"
)


def _upload(client: FlaskClient, text: str | bytes, name: str = "people.csv") -> str:
    page = client.get(URL).get_data(as_text=True)
    data = text.encode() if isinstance(text, str) else text
    response = client.post(
        URL,
        data={"csrf_token": csrf_token(page), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def _imported(session: Session) -> int:
    query = select(func.count()).select_from(User).where(User.external_id.in_(["E1", "E2"]))
    return session.scalar(query) or 0


def test_employees_and_auditors_may_not_import(
    client: FlaskClient, session: Session, now: datetime, employee: User
) -> None:
    auditor = factories.user(
        session, now, password=factories.PASSWORD, roles=frozenset({Role.AUDITOR})
    )
    session.commit()
    auth = Auth(client)
    auth.login(employee.email, factories.PASSWORD)
    assert client.get(URL).status_code == 403
    assert 'href="/admin/people/"' not in client.get("/training").get_data(as_text=True)
    client.post(
        "/logout", data={"csrf_token": csrf_token(client.get("/account").get_data(as_text=True))}
    )
    auth.login(auditor.email, factories.PASSWORD)
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("role", [Role.HR, Role.ADMIN])
def test_hr_and_admins_see_the_form_with_csrf_and_a_nav_link(
    client: FlaskClient, session: Session, now: datetime, role: Role
) -> None:
    person = factories.user(session, now, password=factories.PASSWORD, roles=frozenset({role}))
    session.commit()
    Auth(client).login(person.email, factories.PASSWORD)
    page = client.get(URL).get_data(as_text=True)
    assert csrf_token(page)
    assert 'enctype="multipart/form-data"' in page
    assert 'href="/admin/people/" aria-current="page">People</a>' in page  # its section
    people = client.get("/admin/people/").get_data(as_text=True)
    assert 'href="/admin/people/import"' in people


def test_preview_lists_problems_by_line_and_offers_no_apply(
    client: FlaskClient, session: Session, hr: User
) -> None:
    Auth(client).login(hr.email, factories.PASSWORD)
    page = _upload(client, HEADER + "E1,kari.i@example.test,Kari,,\nE2,not-an-email,Ola,,E9\n")
    assert "Line 3" in page
    assert "&#34;not-an-email&#34; is not a valid email address" in page
    assert "1 problem: nothing is imported until the file is fixed." in page
    assert "Apply these changes" not in page
    assert _imported(session) == 0


def test_preview_then_apply_imports_and_says_what_it_did(
    client: FlaskClient, session: Session, hr: User
) -> None:
    Auth(client).login(hr.email, factories.PASSWORD)
    page = _upload(client, GOOD)
    assert "Ola Importert" in page
    assert "Apply these changes" in page
    assert _imported(session) == 0  # a preview writes nothing

    text = GOOD.replace("\n", "\r\n")  # as a browser sends a textarea
    response = client.post(
        f"{URL}/apply",
        data={"csrf_token": csrf_token(page), "csv_text": text},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert _imported(session) == 2
    done = client.get(URL).get_data(as_text=True)
    assert "Import done: 2 created, 0 updated" in done

    again = _upload(client, GOOD)
    assert "Nothing to change" in again
    assert "Apply these changes" not in again


def test_apply_without_csrf_is_refused(client: FlaskClient, session: Session, hr: User) -> None:
    Auth(client).login(hr.email, factories.PASSWORD)
    response = client.post(f"{URL}/apply", data={"csv_text": GOOD})
    assert response.status_code == 400
    assert _imported(session) == 0


def test_apply_checks_again_and_shows_new_problems(
    client: FlaskClient, session: Session, now: datetime, hr: User
) -> None:
    Auth(client).login(hr.email, factories.PASSWORD)
    page = _upload(client, GOOD)
    # Since the preview, the HR system's sync gave the address to someone else.
    factories.user(session, now, email="kari.i@example.test").external_id = "X1"
    session.commit()
    response = client.post(f"{URL}/apply", data={"csrf_token": csrf_token(page), "csv_text": GOOD})
    assert response.status_code == 409
    assert "already belongs to someone else" in response.get_data(as_text=True)
    assert _imported(session) == 0


def test_a_file_that_is_too_big_or_not_utf8_is_refused(client: FlaskClient, hr: User) -> None:
    Auth(client).login(hr.email, factories.PASSWORD)
    page = client.get(URL).get_data(as_text=True)
    big = (HEADER + "x" * 420_000).encode()
    response = client.post(
        URL,
        data={"csrf_token": csrf_token(page), "file": (io.BytesIO(big), "people.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "The file is larger than 400 KB." in response.get_data(as_text=True)
    latin = _upload(client, (HEADER + "E1,b@example.test,Bjørn,,\n").encode("latin-1"))
    assert "the file is not UTF-8 text" in latin


def test_the_page_speaks_norwegian(client: FlaskClient, session: Session, hr: User) -> None:
    hr.locale = "nb"
    session.commit()
    Auth(client).login(hr.email, factories.PASSWORD)
    page = _upload(client, HEADER + "E1,nope,Kari,,\n")
    assert "Importer personer" in page
    assert "er ikke en gyldig e-postadresse" in page


def test_a_batch_that_fails_keeps_the_ones_before_and_the_page_says_where_it_stopped(
    client: FlaskClient, session: Session, hr: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    Auth(client).login(hr.email, factories.PASSWORD)
    text = HEADER + "".join(f"E{i},p{i}@example.test,Person {i},,\n" for i in range(1, 6))
    page = _upload(client, text)
    monkeypatch.setattr(importer, "BATCH_ROWS", 2)
    real_create = importer.create_user
    made: list[str] = []

    def create_then_fail(session: Session, **kwargs: Any) -> User:
        if len(made) == 3:  # the second batch's second row: the database went away, say
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        made.append(kwargs["email"])
        return real_create(session, **kwargs)

    monkeypatch.setattr(importer, "create_user", create_then_fail)
    response = client.post(f"{URL}/apply", data={"csrf_token": csrf_token(page), "csv_text": text})

    assert response.status_code == 302
    html = client.get(URL).get_data(as_text=True)
    assert "The import stopped after line 3 (1 of" in html
    assert "import the same file again to finish" in html
    session.expire_all()
    saved = session.scalars(select(User.external_id).where(User.external_id.like("E%"))).all()
    assert sorted(saved) == ["E1", "E2"]  # the first batch stays; the second left nothing
    (stopped,) = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "people.import_stopped")
    ).all()
    assert (stopped.actor_id, stopped.detail["applied_through_line"]) == (hr.id, 3)
    assert stopped.detail["reason"] == "OperationalError"
