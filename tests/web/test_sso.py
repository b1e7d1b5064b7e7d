"""Single sign-on against a real OpenID provider on 127.0.0.1: who gets in, who is refused
and why, the checks on the id_token, home-realm discovery, passwords off, single logout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, g
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from lms import clock
from lms.audit.models import AuditEvent
from lms.catalog.definition import CourseDefinition
from lms.people import service as people
from lms.people.models import User
from lms.people.outbound import Policy
from lms.people.sso import oidc, service
from lms.people.sso.models import IdentityProvider, SsoIdentity, SsoLogin
from lms.privacy.erasure import erase_person
from lms.privacy.my_data import my_data
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD
from tests.oidc import TOKEN_MINUTES, TestProvider, local, oidc_provider  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("now")
KARI = "kari-at-contoso"


def register(
    session: Session, app: Flask, provider: TestProvider, **overrides: Any
) -> IdentityProvider:
    """Contoso, answering for example.test, registered the way the admin page does it."""
    policy = Policy(allow=("127.0.0.1",), https_only=False)
    discovery = oidc.fetch_discovery(provider.discovery_url, policy=policy)
    config = oidc.ProviderConfig(0, "contoso", "vern", "", discovery, None, (), policy)
    details = service.ProviderDetails(
        name="contoso",
        display_name="Contoso",
        discovery_url=provider.discovery_url,
        client_id="vern",
        client_secret="s3cret-from-the-provider",
        domains=["example.test"],
        **overrides,
    )
    registered = service.register(
        session,
        details,
        discovery=discovery,
        key_set=oidc.fetch_key_set(config),
        secret_key=str(app.secret_key),
        now=clock.now(),
    )
    session.commit()
    return registered


@pytest.fixture
def contoso(session: Session, app: Flask, oidc_provider: TestProvider) -> IdentityProvider:  # noqa: F811
    oidc_provider.set_user(KARI, email="kari@example.test", email_verified=True, name="Kari")
    return register(session, app, oidc_provider)


def sign_in(
    client: FlaskClient, provider: TestProvider, sub: str = KARI, start: str = "/sso/contoso/start"
) -> TestResponse:
    """Start at Vern, sign in as `sub` at the provider, come back: Vern's last answer."""
    started = client.get(start)
    assert started.status_code == 302, started.get_data(as_text=True)
    return client.get(local(provider.authorize(started.location, sub)))


def refusals(session: Session) -> list[dict[str, Any]]:
    session.expire_all()
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.refused"))
    return [event.detail for event in events]


def signed_in(client: FlaskClient) -> bool:
    return client.get("/training").status_code == 200


def test_a_known_person_signs_in_and_is_linked_to_the_providers_subject(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    response = sign_in(client, oidc_provider)
    assert response.status_code == 302
    assert response.location == "/training"
    assert signed_in(client)
    session.expire_all()
    link = session.scalar(select(SsoIdentity).where(SsoIdentity.subject == KARI))
    assert link is not None
    assert link.user_id == employee.id
    login = session.scalar(select(AuditEvent).where(AuditEvent.action == "login"))
    assert login is not None
    assert login.detail["method"] == "sso"

    # Later the provider sends another address: the subject still finds the same person.
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").text)})
    oidc_provider.set_user(KARI, email="k.nordmann@example.test", email_verified=True)
    assert sign_in(client, oidc_provider).status_code == 302
    assert client.get("/account").get_data(as_text=True).count("kari@example.test") == 1


def test_the_authorisation_request_carries_pkce_state_and_nonce(
    client: FlaskClient, contoso: IdentityProvider
) -> None:
    started = client.get("/sso/contoso/start")
    query = parse_qs(urlsplit(started.location).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["state"][0]
    assert query["nonce"][0]
    assert query["client_id"] == ["vern"]
    assert query["redirect_uri"] == ["http://localhost/sso/callback"]
    assert query["scope"] == ["openid email profile"]


def test_the_person_comes_back_to_the_course_they_were_going_to(
    client: FlaskClient,
    employee: User,
    course: CourseDefinition,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    target = f"/training/{course.key}"
    login_page = client.get(target)
    assert login_page.status_code == 302
    assert "/login" in login_page.location
    page = client.get(login_page.location).get_data(as_text=True)
    assert "Sign in with Contoso" in page
    response = sign_in(client, oidc_provider, start=f"/sso/contoso/start?next={target}")
    assert response.location == target
    assert client.get(target).status_code == 200


def test_a_callback_with_another_state_signs_nobody_in(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    started = client.get("/sso/contoso/start")
    back = local(oidc_provider.authorize(started.location, KARI))
    state = parse_qs(urlsplit(back).query)["state"][0]
    response = client.get(back.replace(state, state[:-2] + "xx"))
    assert response.status_code == 400
    assert "Sign-in did not finish" in response.get_data(as_text=True)
    assert not signed_in(client)
    assert refusals(session)[0]["cause"] == "state"


def test_a_sign_in_started_twice_in_one_browser_finishes_either(
    client: FlaskClient,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    first = client.get("/sso/contoso/start")
    client.get("/sso/contoso/start")  # a second tab, or a double click
    assert client.get(local(oidc_provider.authorize(first.location, KARI))).status_code == 302
    assert signed_in(client)


def test_a_callback_started_in_another_browser_signs_nobody_in(
    app: Flask,
    client: FlaskClient,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    """Login CSRF: an attacker's finished sign-in, sent to a victim, is refused."""
    attacker = app.test_client()
    started = attacker.get("/sso/contoso/start")
    back = local(oidc_provider.authorize(started.location, KARI))
    assert client.get(back).status_code == 400
    assert not signed_in(client)


def test_a_replayed_code_or_callback_is_refused(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    started = client.get("/sso/contoso/start")
    back = local(oidc_provider.authorize(started.location, KARI))
    assert client.get(back).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").text)})

    # The same callback again: its state was used up.
    assert client.get(back).status_code == 400
    # The old code with a fresh state: the provider refuses it.
    code = parse_qs(urlsplit(back).query)["code"][0]
    fresh = local(oidc_provider.authorize(client.get("/sso/contoso/start").location, KARI))
    fresh_code = parse_qs(urlsplit(fresh).query)["code"][0]
    response = client.get(fresh.replace(fresh_code, code))
    assert response.status_code == 502
    assert not signed_in(client)
    assert [event["cause"] for event in refusals(session)] == ["state", "provider"]


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (lambda claims: {**claims, "aud": "another-app"}, "wrong audience"),
        (lambda claims: {**claims, "nonce": "replayed"}, "wrong nonce"),
        (lambda claims: {**claims, "iss": "https://evil.example"}, "wrong issuer"),
    ],
    ids=["audience", "nonce", "issuer"],
)
def test_an_id_token_the_provider_signed_for_something_else_is_refused(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
    change: Any,
    cause: str,
) -> None:
    oidc_provider.rewrite = change
    response = sign_in(client, oidc_provider)
    assert response.status_code == 400
    assert not signed_in(client)
    assert refusals(session)[0]["error"] == cause


def test_an_expired_id_token_is_refused_by_verns_clock(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    started_at = datetime.now(UTC)
    clock.set_source(lambda: started_at)
    started = client.get("/sso/contoso/start")
    back = local(oidc_provider.authorize(started.location, KARI))
    # The provider's token lives TOKEN_MINUTES from the real time; Vern's clock is past that,
    # still inside the time Vern waits for a sign-in to come back.
    clock.set_source(lambda: started_at + timedelta(minutes=TOKEN_MINUTES + 2))
    response = client.get(back)
    assert response.status_code == 400
    assert refusals(session)[0]["error"] == "expired"


def test_a_rotated_signing_key_is_fetched_once_and_accepted(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    cached = contoso.key_set
    oidc_provider.rotate_key()
    assert sign_in(client, oidc_provider).status_code == 302
    assert signed_in(client)
    session.expire_all()
    refreshed = session.get(IdentityProvider, contoso.id)
    assert refreshed is not None
    assert refreshed.key_set != cached


def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    oidc_provider.stranger_key = RSAKey.generate_key(2048, parameters={"kid": "stranger"})
    response = sign_in(client, oidc_provider)
    assert response.status_code == 400
    assert not signed_in(client)
    assert refusals(session)[0]["error"] == "unknown kid 'stranger'"


def test_a_deactivated_person_gets_the_not_set_up_page(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    assert sign_in(client, oidc_provider).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").text)})
    people.deactivate(session, session.get(User, employee.id), clock.now())  # type: ignore[arg-type]
    session.commit()

    response = sign_in(client, oidc_provider)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Your account is not set up in Vern yet" in page
    assert "HR adds people" in page
    assert not signed_in(client)
    assert refusals(session)[0]["cause"] == "deactivated"


def test_a_person_vern_does_not_know_is_not_created_by_default(
    client: FlaskClient,
    session: Session,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    oidc_provider.set_user("new", email="new@example.test", email_verified=True)
    response = sign_in(client, oidc_provider, sub="new")
    assert response.status_code == 403
    assert people.user_by_email(session, "new@example.test") is None
    assert refusals(session)[0] == {
        "cause": "unknown",
        "provider_name": "contoso",
        "subject": "new",
        "email": "new@example.test",
        "kind": "unknown",
        "count": 1,
    }


def test_an_address_outside_the_providers_domains_signs_nobody_in(
    client: FlaskClient,
    session: Session,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    session.add(contoso)
    people.create_user(session, email="ola@elsewhere.test", full_name="Ola", now=clock.now())
    session.commit()
    oidc_provider.set_user("ola", email="ola@elsewhere.test", email_verified=True)
    response = sign_in(client, oidc_provider, sub="ola")
    assert response.status_code == 403
    assert not signed_in(client)
    assert refusals(session)[0]["cause"] == "no verified address in the provider's domains"


def test_an_unverified_email_claim_matches_nobody(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    oidc_provider.set_user(KARI, email="kari@example.test", email_verified=False)
    assert sign_in(client, oidc_provider).status_code == 403
    assert not signed_in(client)


def test_a_trusted_provider_creates_the_person_with_department_and_language(
    client: FlaskClient,
    session: Session,
    app: Flask,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    register(session, app, oidc_provider, create_people=True, department_claim="department")
    oidc_provider.set_user(
        "nils",
        email="nils@example.test",
        email_verified=True,
        name="Nils Nilsen",
        locale="nb-NO",
        department="Sales",
    )
    assert sign_in(client, oidc_provider, sub="nils").status_code == 302
    session.expire_all()
    person = people.user_by_email(session, "nils@example.test")
    assert person is not None
    assert (person.full_name, person.locale) == ("Nils Nilsen", "nb")
    assert person.department is not None
    assert person.department.name == "Sales"
    created = session.scalar(select(AuditEvent).where(AuditEvent.action == "sso.person_created"))
    assert created is not None
    assert created.subject_user_id == person.id


def _login_post(client: FlaskClient, **data: str) -> TestResponse:
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={**data, "csrf_token": csrf_token(page)})


def test_an_email_in_a_provider_domain_is_sent_to_that_provider(
    client: FlaskClient,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    page = client.get("/login?next=/training/basics").get_data(as_text=True)
    response = client.post(
        "/login?next=/training/basics",
        data={"email": "Someone@Example.test", "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 302
    assert response.location.startswith("/sso/contoso/start?")
    query = parse_qs(urlsplit(response.location).query)
    assert query["next"] == ["/training/basics"]
    assert query["login_hint"] == ["Someone@Example.test"]
    to_provider = client.get(response.location)
    assert to_provider.location.startswith(oidc_provider.url)


def test_an_email_outside_every_provider_still_needs_a_password(
    client: FlaskClient, contoso: IdentityProvider
) -> None:
    response = _login_post(client, email="someone@elsewhere.test")
    assert response.status_code == 200
    assert 'id="password-error">Enter your password.' in response.get_data(as_text=True)


def test_passwords_off_refuses_a_right_password_and_points_to_the_button(
    client: FlaskClient,
    session: Session,
    app: Flask,
    employee: User,
    colleague: User,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    register(session, app, oidc_provider, passwords_off=True)
    response = _login_post(client, email=employee.email, password=PASSWORD)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Passwords are switched off for this address: use “Sign in with Contoso”." in page
    assert not signed_in(client)
    session.expire_all()
    refused = session.scalar(select(AuditEvent).where(AuditEvent.action == "login.refused"))
    assert refused is not None
    assert refused.detail == {
        "cause": "passwords off",
        "email": employee.email,
        "provider_name": "contoso",
        "kind": "passwords off",
        "count": 1,
    }
    # Another domain's people keep their passwords.
    session.add(colleague)
    colleague.email = "ola@elsewhere.test"
    session.commit()
    Auth(client).login("ola@elsewhere.test", PASSWORD)
    assert signed_in(client)


def test_a_switched_off_provider_offers_no_button_and_takes_nobody_there(
    client: FlaskClient, session: Session, contoso: IdentityProvider
) -> None:
    session.add(contoso)
    service.set_active(session, contoso, False)
    session.commit()
    assert "Sign in with Contoso" not in client.get("/login").get_data(as_text=True)
    assert client.get("/sso/contoso/start").status_code == 404
    assert _login_post(client, email="kari@example.test").status_code == 200


def test_sign_out_ends_verns_login_and_offers_the_providers_single_logout(
    client: FlaskClient,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    assert sign_in(client, oidc_provider).status_code == 302
    response = client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").text)})
    assert response.status_code == 200
    assert not signed_in(client)
    page = response.get_data(as_text=True)
    assert "Sign out of Contoso too" in page
    start = page.index(f'href="{oidc_provider.url}/oauth2/end_session?')
    url = page[start + 6 : page.index('"', start + 6)].replace("&amp;", "&")
    query = parse_qs(urlsplit(url).query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/login"]
    assert query["client_id"] == ["vern"]
    assert query["id_token_hint"][0].count(".") == 2
    assert requests.get(url, timeout=5).status_code == 200


def test_a_password_login_signs_out_as_before(client: FlaskClient, employee: User) -> None:
    Auth(client).login(employee.email, PASSWORD)
    response = client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").text)})
    assert response.status_code == 302


def test_my_data_shows_the_provider_account_and_erasure_forgets_it_and_the_id_tokens(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    assert sign_in(client, oidc_provider).status_code == 302
    person = session.get(User, employee.id)
    assert person is not None
    session.expire_all()
    assert session.scalar(select(func.count()).where(SsoLogin.user_id == person.id)) == 1
    accounts = my_data(session, person, clock.now())["sign_in_accounts"]
    assert [(a["provider"], a["your_id_there"]) for a in accounts] == [("Contoso", KARI)]
    people.deactivate(session, person, clock.now())
    erase_person(session, person, now=clock.now(), actor_id=None, reason="retention")
    assert session.scalar(select(func.count()).where(SsoIdentity.user_id == person.id)) == 0
    assert session.scalar(select(func.count()).where(SsoLogin.user_id == person.id)) == 0


def _as_issuer(session: Session, provider: IdentityProvider, issuer: str) -> None:
    """The provider's discovery document names this issuer (its endpoints stay the test's)."""
    session.add(provider)
    provider.discovery = {**(provider.discovery or {}), "issuer": issuer}
    session.commit()


def test_an_entra_multi_tenant_token_signs_in_by_its_verified_sign_in_name(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    _as_issuer(session, contoso, "https://login.microsoftonline.com/{tenantid}/v2.0")

    def entra(claims: dict[str, Any]) -> dict[str, Any]:
        # What Entra ID sends: no email_verified; the UPN as preferred_username.
        kept = {k: v for k, v in claims.items() if k not in ("email", "email_verified")}
        issuer = f"https://login.microsoftonline.com/{tenant}/v2.0"
        return {**kept, "iss": issuer, "tid": tenant, "preferred_username": "Kari@example.test"}

    oidc_provider.rewrite = entra
    assert sign_in(client, oidc_provider).status_code == 302
    assert signed_in(client)


def test_a_google_token_without_the_workspace_domain_is_refused(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    _as_issuer(session, contoso, "https://accounts.google.com")
    # With one domain Vern asks Google to offer that Workspace's accounts only.
    assert parse_qs(urlsplit(client.get("/sso/contoso/start").location).query)["hd"] == [
        "example.test"
    ]
    google = {"iss": "https://accounts.google.com"}
    oidc_provider.rewrite = lambda claims: {**claims, **google}
    assert sign_in(client, oidc_provider).status_code == 400
    assert refusals(session)[0]["error"] == "hosted domain outside the provider's domains"

    oidc_provider.rewrite = lambda claims: {**claims, **google, "hd": "example.test"}
    assert sign_in(client, oidc_provider).status_code == 302
    assert signed_in(client)


def test_no_transaction_is_open_while_vern_asks_the_provider_for_a_browser_whose_login_ended(
    client: FlaskClient,
    session: Session,
    employee: User,
    contoso: IdentityProvider,
    oidc_provider: TestProvider,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert sign_in(client, oidc_provider).status_code == 302
    # Her logins end elsewhere (a password change, say): this browser still carries its old
    # one, which every request looks up in the database before the view runs.
    people.end_all_logins(session, session.get_one(User, employee.id), clock.now())
    session.commit()
    assert not signed_in(client)
    open_while_asking: list[bool] = []
    exchange = oidc.exchange_code

    def watched(*args: Any, **kwargs: Any) -> dict[str, Any]:
        request_session = g.get("db_session")
        open_while_asking.append(request_session is not None and request_session.in_transaction())
        return exchange(*args, **kwargs)

    monkeypatch.setattr(oidc, "exchange_code", watched)
    assert sign_in(client, oidc_provider).status_code == 302
    assert open_while_asking == [False]
    assert signed_in(client)


def test_a_flood_of_callbacks_with_a_made_up_state_is_counted_in_one_audit_row(
    client: FlaskClient, session: Session, contoso: IdentityProvider, admin: User
) -> None:
    """Anyone can call the callback: each refusal wrote a row of its own, unthrottled."""
    for n in range(30):
        assert client.get(f"/sso/callback?state=made-up-{n}&code=x").status_code == 400
    (refused,) = refusals(session)
    assert (refused["cause"], refused["count"]) == ("state", 30)
    Auth(client).login(admin.email, PASSWORD)
    assert "state (30 times)" in client.get("/admin/sign-in/").get_data(as_text=True)


def test_a_flood_of_passwords_for_a_passwords_off_domain_is_counted_in_one_audit_row(
    client: FlaskClient,
    session: Session,
    app: Flask,
    employee: User,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    register(session, app, oidc_provider, passwords_off=True)
    for n in range(12):
        _login_post(client, email=employee.email, password=f"guess {n}")
    session.expire_all()
    (refused,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "login.refused"))
    assert (refused.detail["cause"], refused.detail["count"]) == ("passwords off", 12)
    assert refused.ip == "127.0.0.1"
