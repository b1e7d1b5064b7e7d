"""Login and logout: credentials, server-side sessions, cookie flags, CSRF, safe redirects."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from lms.people.models import User
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD


def _login_form(client: FlaskClient) -> str:
    return client.get("/login").get_data(as_text=True)


def test_login_page_renders_a_csrf_protected_form(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="email"' in html
    assert 'name="password"' in html
    assert csrf_token(html)


def test_wrong_password_rerenders_with_message_at_the_field(
    client: FlaskClient, employee: User
) -> None:
    page = _login_form(client)
    response = client.post(
        "/login",
        data={
            "email": employee.email,
            "password": "not the password",
            "csrf_token": csrf_token(page),
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<p class="flash flash-error" role="alert">Wrong email or password.</p>' in html
    assert 'value="kari@example.test"' in html  # the email is kept, the password is not
    assert client.get("/training").status_code == 302


def test_empty_form_shows_field_messages(client: FlaskClient) -> None:
    page = _login_form(client)
    html = client.post("/login", data={"csrf_token": csrf_token(page)}).get_data(as_text=True)
    assert "Enter your email address." in html
    assert "Enter your password." in html


def test_inactive_user_cannot_log_in(client: FlaskClient, session: Session, employee: User) -> None:
    employee.active = False
    session.commit()
    page = _login_form(client)
    response = client.post(
        "/login",
        data={"email": employee.email, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_login_starts_a_fresh_session(client: FlaskClient, employee: User) -> None:
    """ASVS 3.2.1: a new session token at authentication; nothing from before survives."""
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
    Auth(client).login(employee.email, PASSWORD)
    with client.session_transaction() as after:
        assert "planted" not in after
        first_token = after["_user_id"]
    client.post(
        "/logout", data={"csrf_token": csrf_token(client.get("/training").get_data(as_text=True))}
    )
    Auth(client).login(employee.email, PASSWORD)
    with client.session_transaction() as again:
        assert again["_user_id"] != first_token


def test_logout_ends_the_session_on_the_server(client: FlaskClient, employee: User) -> None:
    """ASVS 3.3.1: a copied cookie is worthless after logout."""
    Auth(client).login(employee.email, PASSWORD)
    with client.session_transaction() as live:
        stolen = dict(live)
    page = client.get("/training").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    with client.session_transaction() as replay:
        replay.update(stolen)
    response = client.get("/training")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_session_cookie_is_httponly_lax_and_not_remembered(
    client: FlaskClient, employee: User
) -> None:
    page = _login_form(client)
    response = client.post(
        "/login",
        data={"email": employee.email, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("vern_session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie
    assert not any(c.startswith("remember_token=") for c in cookies)


def test_secure_cookie_flag_follows_the_setting(settings, database, employee: User) -> None:  # noqa: ANN001
    from lms import create_app

    client = create_app(
        settings.with_overrides(secure_cookies=True), database=database
    ).test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login",
        data={"email": employee.email, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert any(
        c.startswith("vern_session=") and "Secure" in c
        for c in response.headers.getlist("Set-Cookie")
    )


def test_pages_need_a_login(client: FlaskClient) -> None:
    for url in ("/training", "/training/basics", "/attempts/1", "/attestations/1", "/account"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login")


def test_after_login_redirect_stays_on_this_site(client: FlaskClient, employee: User) -> None:
    page = _login_form(client)
    response = client.post(
        "/login?next=//evil.example/phish",
        data={"email": employee.email, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.headers["Location"] == "/training"


def test_post_without_csrf_token_is_refused(client: FlaskClient, employee: User) -> None:
    response = client.post("/login", data={"email": employee.email, "password": PASSWORD})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Form expired" in html
    assert 'class="site-header"' in html


def test_failed_and_successful_logins_are_audited(
    client: FlaskClient, session: Session, employee: User, now: datetime
) -> None:
    from sqlalchemy import select

    from lms.audit.models import AuditEvent

    page = _login_form(client)
    client.post(
        "/login",
        data={
            "email": employee.email,
            "password": "wrong one here",
            "csrf_token": csrf_token(page),
        },
    )
    Auth(client).login(employee.email, PASSWORD)
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["login.failed", "login"]


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/training").status_code == 200


def test_a_login_unused_for_the_idle_timeout_ends(client: FlaskClient, employee: User) -> None:
    """ASVS 3.3.2 (level 2): 30 minutes without a request (the default) and the login is over."""
    from lms import clock

    start = clock.now()
    try:
        Auth(client).login(employee.email, PASSWORD)
        clock.set_source(lambda: start + timedelta(minutes=29))
        assert _signed_in(client)
        clock.set_source(lambda: start + timedelta(minutes=29 + 31))
        assert not _signed_in(client)
    finally:
        clock.set_source(None)


def test_activity_keeps_a_login_until_its_absolute_lifetime(
    client: FlaskClient, employee: User
) -> None:
    """ASVS 3.3.1/3.3.2: requests every 25 minutes keep it alive, but not past 12 hours."""
    from lms import clock

    start = clock.now()
    try:
        Auth(client).login(employee.email, PASSWORD)
        for step in range(1, 29):  # 11 h 40 min of steady use
            clock.set_source(lambda step=step: start + timedelta(minutes=25 * step))
            assert _signed_in(client), f"ended after {25 * step} minutes"
        clock.set_source(lambda: start + timedelta(hours=12, minutes=1))
        assert not _signed_in(client)
    finally:
        clock.set_source(None)
