"""Registering identity providers: the admin page Sign-in and `lms sso ...` check what they
are given, say which field is wrong, change nothing on a mistake, never show the client
secret again, and audit what they do."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.people import crypto
from lms.people.models import User
from lms.people.outbound import Policy
from lms.people.sso import oidc
from lms.people.sso.models import IdentityProvider
from tests.conftest import Auth
from tests.factories import PASSWORD
from tests.oidc import TestProvider, oidc_provider  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("now")
PAGE = "/admin/sign-in/"
SECRET = "very-secret-client-secret"


def _form(provider: TestProvider, **overrides: str) -> dict[str, str]:
    return {
        "name": "contoso",
        "display_name": "Contoso",
        "discovery_url": provider.discovery_url,
        "client_id": "vern-client",
        "client_secret": SECRET,
        "domains": "example.test\ncontoso.example\n",
        "department_claim": "",
        **overrides,
    }


def _providers(session: Session) -> list[IdentityProvider]:
    session.expire_all()
    return list(session.scalars(select(IdentityProvider)))


def _post(auth: Auth, url: str, data: dict[str, str]):  # noqa: ANN202
    """POST with the CSRF token of the admin page."""
    return auth.post(url, data, auth.client.get(PAGE).get_data(as_text=True))


@pytest.fixture
def signed_in(client: FlaskClient, admin: User) -> Auth:
    auth = Auth(client)
    auth.login(admin.email, PASSWORD)
    return auth


def test_the_page_tells_the_admin_what_to_enter_at_the_provider(
    client: FlaskClient, signed_in: Auth
) -> None:
    page = client.get(PAGE).get_data(as_text=True)
    assert "<code>http://localhost/sso/callback</code>" in page
    assert "<code>http://localhost/login</code>" in page
    assert "<code>openid email profile</code>" in page


def test_only_admins_reach_the_page(client: FlaskClient, hr: User) -> None:
    Auth(client).login(hr.email, PASSWORD)
    assert client.get(PAGE).status_code == 403


def test_registering_keeps_the_provider_its_keys_and_an_encrypted_secret(
    app: Flask,
    client: FlaskClient,
    session: Session,
    signed_in: Auth,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    response = _post(signed_in, PAGE + "providers", _form(oidc_provider, passwords_off="y"))
    assert response.status_code == 302
    (provider,) = _providers(session)
    assert provider.domains == ["contoso.example", "example.test"]
    assert provider.passwords_off
    assert provider.discovery is not None
    assert provider.discovery["issuer"] == oidc_provider.url
    assert provider.key_set is not None
    assert provider.key_set["keys"]
    assert SECRET not in provider.client_secret_encrypted
    assert crypto.decrypt(str(app.secret_key), provider.client_secret_encrypted) == SECRET
    page = client.get(PAGE).get_data(as_text=True)
    assert "Contoso" in page
    assert SECRET not in page
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "sso.provider.register"))
    assert event is not None
    assert SECRET not in str(event.detail)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": "Contoso Ltd"}, "name", "Use lower-case letters, digits and hyphens"),
        ({"domains": "not a domain"}, "domains", "not a domain is not a mail domain."),
        ({"client_secret": ""}, "client_secret", "Enter the client secret the provider gave"),
    ],
    ids=["name", "domain", "secret"],
)
def test_a_wrong_field_is_named_at_the_field_and_nothing_is_kept(
    session: Session,
    signed_in: Auth,
    oidc_provider: TestProvider,  # noqa: F811
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = _post(signed_in, PAGE + "providers", _form(oidc_provider, **change))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="{field}-error">{message}' in page
    assert SECRET not in page  # not even written back into the form
    assert _providers(session) == []


def test_a_url_that_is_no_openid_provider_is_refused_at_the_field(
    session: Session,
    signed_in: Auth,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    form = _form(oidc_provider, discovery_url=f"{oidc_provider.url}/nothing-here")
    response = _post(signed_in, PAGE + "providers", form)
    assert response.status_code == 400
    assert 'id="discovery_url-error">Vern could not read' in response.get_data(as_text=True)
    assert _providers(session) == []


def test_a_domain_belongs_to_one_provider_only(
    session: Session,
    signed_in: Auth,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    assert _post(signed_in, PAGE + "providers", _form(oidc_provider)).status_code == 302
    again = _form(oidc_provider, name="other", domains="example.test")
    response = _post(signed_in, PAGE + "providers", again)
    assert response.status_code == 400
    assert "example.test belongs to another provider already." in response.get_data(as_text=True)
    assert len(_providers(session)) == 1


def test_the_switches_change_the_provider_and_are_audited(
    session: Session,
    signed_in: Auth,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    _post(signed_in, PAGE + "providers", _form(oidc_provider))
    (provider,) = _providers(session)
    base = f"{PAGE}providers/{provider.id}"
    assert _post(signed_in, f"{base}/active", {"active": "0"}).status_code == 302
    assert _post(signed_in, f"{base}/passwords", {"off": "1"}).status_code == 302
    (provider,) = _providers(session)
    assert (provider.active, provider.passwords_off) == (False, True)
    assert _post(signed_in, f"{base}/remove", {}).status_code == 302
    assert _providers(session) == []
    actions = session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.action.like("sso.provider.%"))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "sso.provider.register",
        "sso.provider.deactivate",
        "sso.provider.passwords",
        "sso.provider.remove",
    ]


def test_the_cli_registers_lists_switches_and_removes(
    app: Flask,
    session: Session,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    runner = app.test_cli_runner()
    added = runner.invoke(
        args=[
            "lms", "sso", "add", "contoso",
            "--discovery-url", oidc_provider.discovery_url,
            "--client-id", "vern-client",
            "--client-secret-env", "CONTOSO_SECRET",
            "--domain", "example.test",
            "--display-name", "Contoso",
            "--create-people",
            "--department-claim", "department",
        ],
        env={"CONTOSO_SECRET": SECRET},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "redirect URI: http://127.0.0.1:5000/sso/callback" in added.output
    assert SECRET not in added.output
    (provider,) = _providers(session)
    assert (provider.create_people, provider.department_claim) == (True, "department")
    assert crypto.decrypt(str(app.secret_key), provider.client_secret_encrypted) == SECRET

    listed = runner.invoke(args=["lms", "sso", "list"])
    assert "contoso\tContoso\texample.test\tactive; creates people" in listed.output
    assert runner.invoke(args=["lms", "sso", "switch-off", "contoso"]).exit_code == 0
    assert "switched off" in runner.invoke(args=["lms", "sso", "list"]).output
    assert runner.invoke(args=["lms", "sso", "switch-on", "contoso"]).exit_code == 0
    assert _providers(session)[0].active
    renewed = runner.invoke(
        args=["lms", "sso", "set-secret", "contoso", "--client-secret-env", "NEW_SECRET"],
        env={"NEW_SECRET": "the-renewed-secret"},
    )
    assert renewed.exit_code == 0, renewed.output
    stored = _providers(session)[0].client_secret_encrypted
    assert crypto.decrypt(str(app.secret_key), stored) == "the-renewed-secret"
    assert runner.invoke(args=["lms", "sso", "remove", "contoso"]).exit_code == 0
    assert _providers(session) == []
    assert (
        "no provider named contoso"
        in runner.invoke(args=["lms", "sso", "remove", "contoso"]).output
    )


def test_the_cli_wants_the_secret_from_the_environment(
    app: Flask,
    session: Session,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "lms", "sso", "add", "contoso",
            "--discovery-url", oidc_provider.discovery_url,
            "--client-id", "vern-client",
            "--client-secret-env", "UNSET_SECRET_VARIABLE",
            "--domain", "example.test",
        ],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "UNSET_SECRET_VARIABLE is not set or empty" in result.output
    assert session.scalar(select(func.count()).select_from(IdentityProvider)) == 0


def test_production_refuses_a_plain_http_discovery_url(
    app: Flask,
    session: Session,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    production = app.extensions["lms.settings"].with_overrides(
        env="production", secret_key="k" * 40
    )
    with pytest.raises(oidc.ProviderUnavailable, match="https://"):
        oidc.fetch_discovery(oidc_provider.discovery_url, policy=Policy.from_settings(production))
    assert production.outbound_https_only
