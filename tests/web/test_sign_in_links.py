"""Email me a sign-in link and Forgot password, through the browser's view of them: the same
reply for every address, throttled, links that a GET never uses up, a POST that signs in and
lands where the person was going, resets that end every other login; and one link that goes
all the way through the outbox and a real SMTP server."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.people import service, sign_in_links
from lms.people.models import LinkPurpose, SignInToken, User
from lms.reminders.jobs import run_job
from lms.reminders.models import OutboxMessage
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD
from tests.smtp import SmtpSink

COURSE_PAGE = "/training/basics"
NEW_PASSWORD = "sea otters hold hands"


def _ask(client: FlaskClient, url: str, email: str, ip: str = "198.51.100.7"):  # noqa: ANN202
    page = client.get(url).get_data(as_text=True)
    return client.post(
        url,
        data={"email": email, "csrf_token": csrf_token(page)},
        environ_overrides={"REMOTE_ADDR": ip},
    )


def _links(session: Session, user: User) -> list[SignInToken]:
    session.expire_all()
    return list(
        session.scalars(
            select(SignInToken).where(SignInToken.user_id == user.id).order_by(SignInToken.id)
        )
    )


def _token(settings: Settings, link: SignInToken) -> str:
    return sign_in_links.token_for(link, sign_in_links.signing_key(settings))


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


def _main(html: str) -> str:
    """The page's content without the CSRF token (which differs per session)."""
    main = html[html.index("<main") : html.index("</main>")]
    return re.sub(r'value="[^"]*"', "", main)


def test_the_login_page_offers_both_links_and_carries_next(client: FlaskClient) -> None:
    html = client.get(f"/login?next={COURSE_PAGE}").get_data(as_text=True)
    assert 'href="/login/link?next=/training/basics"' in html
    assert 'href="/password/forgot?next=/training/basics"' in html
    assert "Email me a sign-in link" in html
    assert "Forgot your password?" in html


def test_the_address_an_invitation_filled_in_is_carried_to_the_link_pages(
    client: FlaskClient,
) -> None:
    html = client.get("/login?email=kari%40example.test&next=/training").get_data(as_text=True)
    link = re.search(r'href="(/login/link\?[^"]+)"', html)
    assert link
    page = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert 'value="kari@example.test"' in page


@pytest.mark.parametrize("url", ["/login/link", "/password/forgot"])
def test_known_unknown_and_deactivated_addresses_get_the_same_reply(
    client: FlaskClient, session: Session, employee: User, colleague: User, url: str, at
) -> None:  # noqa: ANN001
    service.deactivate(session, colleague, at[0])
    session.commit()
    replies = [
        _ask(client, url, address, ip=f"198.51.100.{n}")
        for n, address in enumerate([employee.email, "nobody@example.test", colleague.email])
    ]
    assert {reply.status_code for reply in replies} == {200}
    pages = [_main(reply.get_data(as_text=True)) for reply in replies]
    assert all("Check your email" in page for page in pages)
    # Apart from the address typed, the pages are the same.
    assert pages[0].replace(employee.email, "X") == pages[1].replace("nobody@example.test", "X")
    assert pages[0].replace(employee.email, "X") == pages[2].replace(colleague.email, "X")
    kinds = list(session.scalars(select(OutboxMessage.kind)))
    expected = "sign_in_link" if url == "/login/link" else "password_reset"
    assert kinds == [expected]  # only the active person gets a mail
    assert _links(session, colleague) == []


def test_the_outbox_holds_the_links_id_and_never_its_token(
    client: FlaskClient, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    _ask(client, "/login/link", employee.email)
    (link,) = _links(session, employee)
    message = session.scalars(select(OutboxMessage)).one()
    assert message.payload == {"link_id": link.id, "to": [employee.id]}
    assert message.dedupe_key == f"sign_in_link:{link.id}"
    assert _token(settings, link) not in str(message.payload)


def test_a_mistyped_address_is_shown_at_the_field_and_sends_nothing(
    client: FlaskClient, session: Session, at
) -> None:  # noqa: ANN001
    reply = _ask(client, "/login/link", "not an address")
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200
    assert 'id="email-error"' in html
    assert "Enter an email address like name@example.com." in html
    assert session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize("url", ["/login/link", "/password/forgot"])
def test_the_sixth_request_for_one_address_is_throttled_whoever_it_belongs_to(
    client: FlaskClient, session: Session, employee: User, url: str, at
) -> None:  # noqa: ANN001
    replies = []
    for email in (employee.email, "nobody@example.test"):
        for _ in range(5):
            assert _ask(client, url, email).status_code == 200
        refused = _ask(client, url, email)
        assert refused.status_code == 429
        assert 890 <= int(refused.headers["Retry-After"]) <= 901
        replies.append(_main(refused.get_data(as_text=True)).replace(email, "X"))
    assert "Try again in 15 minutes." in replies[0]
    assert replies[0] == replies[1]
    assert len(session.scalars(select(OutboxMessage)).all()) == 5


def test_opening_a_link_does_not_use_it_and_the_button_signs_in_once_and_lands_on_next(
    client: FlaskClient, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    _ask(client, f"/login/link?next={COURSE_PAGE}", employee.email)
    (link,) = _links(session, employee)
    url = f"/login/link/{_token(settings, link)}"

    # A mail scanner (or the person) opens the link twice: nothing is used up.
    for _ in range(2):
        page = client.get(url)
        assert page.status_code == 200
        assert "Sign in to Vern as Kari Nordmann" in page.get_data(as_text=True)
    assert _links(session, employee)[0].used_at is None
    assert not _signed_in(client)

    signed_in = client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == COURSE_PAGE
    assert _signed_in(client)
    assert _links(session, employee)[0].used_at == at[0]

    client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").text)})
    again = client.post(url, data={"csrf_token": csrf_token(client.get("/login").text)})
    assert again.status_code == 410
    assert "This link no longer works" in again.get_data(as_text=True)
    assert not _signed_in(client)


def test_a_post_without_the_pages_csrf_token_does_not_use_the_link(
    client: FlaskClient, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    _ask(client, "/login/link", employee.email)
    (link,) = _links(session, employee)
    reply = client.post(f"/login/link/{_token(settings, link)}")
    assert reply.status_code == 400
    assert _links(session, employee)[0].used_at is None


def test_an_expired_link_is_refused_and_audited(
    client: FlaskClient, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    from lms.audit.models import AuditEvent

    _ask(client, "/login/link", employee.email)
    (link,) = _links(session, employee)
    url = f"/login/link/{_token(settings, link)}"
    page = client.get(url).get_data(as_text=True)
    at[0] += timedelta(minutes=15)
    assert client.get(url).status_code == 410
    refused = client.post(url, data={"csrf_token": csrf_token(page)})
    assert refused.status_code == 410
    assert not _signed_in(client)
    actions = list(session.scalars(select(AuditEvent.action)))
    assert "sign_in.refused" in actions


def test_a_password_sign_in_voids_a_link_sent_earlier(
    client: FlaskClient, auth: Auth, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    _ask(client, "/login/link", employee.email)
    (link,) = _links(session, employee)
    auth.login(employee.email, PASSWORD)
    assert _links(session, employee)[0].voided_at is not None
    other = client.application.test_client()
    assert other.get(f"/login/link/{_token(settings, link)}").status_code == 410


def test_a_newer_link_voids_the_older_one(
    client: FlaskClient, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    _ask(client, "/login/link", employee.email)
    _ask(client, "/login/link", employee.email)
    first, second = _links(session, employee)
    assert client.get(f"/login/link/{_token(settings, first)}").status_code == 410
    assert client.get(f"/login/link/{_token(settings, second)}").status_code == 200


def _reset_page(client: FlaskClient, session: Session, settings: Settings, user: User) -> str:
    _ask(client, f"/password/forgot?next={COURSE_PAGE}", user.email)
    link = _links(session, user)[-1]
    assert link.purpose == LinkPurpose.PASSWORD_RESET
    return f"/password/reset/{_token(settings, link)}"


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("", "", "Enter a new password."),
        ("too short", "too short", "Use at least 12 characters."),
        ("Qwerty123456", "Qwerty123456", "This is one of the most common passwords."),
        (NEW_PASSWORD, "sea otters hold paws", "The two passwords are not the same."),
    ],
)
def test_a_refused_new_password_is_explained_at_the_field_and_changes_nothing(
    client: FlaskClient,
    session: Session,
    settings: Settings,
    employee: User,
    password: str,
    confirm: str,
    message: str,
    at,  # noqa: ANN001
) -> None:
    url = _reset_page(client, session, settings, employee)
    page = client.get(url).get_data(as_text=True)
    before = employee.password_hash
    reply = client.post(
        url, data={"password": password, "confirm": confirm, "csrf_token": csrf_token(page)}
    )
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200
    assert message in html
    assert 'class="error-message"' in html
    session.refresh(employee)
    assert employee.password_hash == before
    assert _links(session, employee)[-1].used_at is None
    assert not _signed_in(client)


def test_a_reset_sets_the_password_ends_every_other_login_and_lands_on_next(
    app: Flask, client: FlaskClient, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    elsewhere = app.test_client()
    Auth(elsewhere).login(employee.email, PASSWORD)
    assert _signed_in(elsewhere)

    url = _reset_page(client, session, settings, employee)
    page = client.get(url)
    assert page.status_code == 200
    assert _links(session, employee)[-1].used_at is None  # GET shows the form, uses nothing
    reply = client.post(
        url,
        data={
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert reply.status_code == 302
    assert reply.headers["Location"] == COURSE_PAGE
    assert _signed_in(client)
    assert not _signed_in(elsewhere)
    assert client.get(url).status_code == 410  # used

    assert _password_signs_in(app, employee.email, NEW_PASSWORD)
    assert not _password_signs_in(app, employee.email, PASSWORD)


def _password_signs_in(app: Flask, email: str, password: str) -> bool:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(page)}
    )
    return _signed_in(client)


def test_a_link_from_a_delivered_mail_signs_the_person_in(
    mail_app: Flask, session: Session, employee: User, smtp: SmtpSink, at
) -> None:  # noqa: ANN001
    client = mail_app.test_client()
    _ask(client, f"/login/link?next={COURSE_PAGE}", employee.email)
    run_job(mail_app, "send")

    (mail,) = smtp.received
    assert mail.envelope_to == [employee.email]
    assert mail.message["Subject"] == "Your sign-in link for Vern"
    url = mail.link(r"https://vern\.example/login/link/[A-Za-z0-9_-]{43}\b")
    path = urlsplit(url).path
    assert "15 minutes" in mail.text()

    page = client.get(path)
    assert page.status_code == 200
    reply = client.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert reply.status_code == 302
    assert reply.headers["Location"] == COURSE_PAGE
    assert _signed_in(client)


def test_a_reset_mail_goes_out_in_the_persons_language(
    mail_app: Flask, session: Session, employee: User, smtp: SmtpSink, at
) -> None:  # noqa: ANN001
    employee.locale = "nb"
    session.commit()
    client = mail_app.test_client()
    _ask(client, "/password/forgot", employee.email)
    run_job(mail_app, "send")
    (mail,) = smtp.received
    assert mail.message["Subject"] == "Velg et nytt passord for Vern"
    assert re.search(r"https://vern\.example/password/reset/[A-Za-z0-9_-]{43}", mail.text())
    assert "Du har bedt om å velge et nytt passord for Vern" in mail.text()
    assert "Lenken virker én gang, i 30 minutter." in mail.html()


def test_a_link_used_before_the_sender_got_to_it_is_not_mailed(
    mail_app: Flask, session: Session, employee: User, smtp: SmtpSink, at
) -> None:  # noqa: ANN001
    client = mail_app.test_client()
    _ask(client, "/login/link", employee.email)
    Auth(client).login(employee.email, PASSWORD)  # a sign-in voids the link
    run_job(mail_app, "send")
    assert smtp.received == []
    message = session.scalars(select(OutboxMessage)).one()
    session.refresh(message)
    assert message.status == "skipped"


def _contoso(session: Session, now: datetime, *, passwords_off: bool) -> None:
    from lms.people.sso.service import ProviderDetails, register

    details = ProviderDetails(
        name="contoso",
        display_name="Contoso",
        discovery_url="https://login.contoso.test/.well-known/openid-configuration",
        client_id="vern",
        client_secret="s3cret",
        domains=["example.test"],
        passwords_off=passwords_off,
    )
    register(session, details, discovery={}, key_set=None, secret_key="k" * 32, now=now)
    session.commit()


@pytest.mark.parametrize("url", ["/login/link", "/password/forgot"])
def test_a_domain_with_passwords_off_gets_the_providers_button_and_no_mail(
    client: FlaskClient, session: Session, employee: User, url: str, at
) -> None:  # noqa: ANN001
    _contoso(session, at[0], passwords_off=True)
    replies = [
        _ask(client, f"{url}?next={COURSE_PAGE}", a) for a in (employee.email, "x@example.test")
    ]
    pages = [_main(reply.get_data(as_text=True)) for reply in replies]
    assert pages[0] == pages[1]  # by domain: nothing said about the account
    assert "Vern sends no links or passwords for this address" in pages[0]
    assert 'href="/sso/contoso/start?next=/training/basics"' in pages[0]
    assert session.scalars(select(OutboxMessage)).all() == []
    assert _links(session, employee) == []


def test_a_domain_whose_provider_keeps_passwords_still_gets_links(
    client: FlaskClient, session: Session, employee: User, at
) -> None:  # noqa: ANN001
    _contoso(session, at[0], passwords_off=False)
    _ask(client, "/password/forgot", employee.email)
    assert [m.kind for m in session.scalars(select(OutboxMessage))] == ["password_reset"]


def test_a_reset_link_sent_before_passwords_were_switched_off_sets_no_password(
    client: FlaskClient, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    url = _reset_page(client, session, settings, employee)
    _contoso(session, at[0], passwords_off=True)
    page = client.get(url).get_data(as_text=True)
    assert "Vern sends no links or passwords for this address" in page
    assert 'name="password"' not in page


def test_a_sign_in_link_sent_before_passwords_were_switched_off_signs_nobody_in(
    client: FlaskClient, session: Session, settings: Settings, employee: User, at
) -> None:  # noqa: ANN001
    _ask(client, f"/login/link?next={COURSE_PAGE}", employee.email)
    (link,) = _links(session, employee)
    url = f"/login/link/{_token(settings, link)}"
    page = client.get(url).get_data(as_text=True)
    _contoso(session, at[0], passwords_off=True)

    shown = client.get(url).get_data(as_text=True)
    assert "Vern sends no links or passwords for this address" in shown
    assert 'href="/sso/contoso/start?next=/training/basics"' in shown
    client.post(url, data={"csrf_token": csrf_token(page)})
    assert not _signed_in(client)
    assert _links(session, employee)[0].used_at is None
