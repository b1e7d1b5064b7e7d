"""The single sign-on service without HTTP: registration rules, home-realm discovery, the
single use of a sign-in under way, and who a verified token signs in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from lms.people import service as people
from lms.people.sso import oidc, service
from lms.people.sso.models import IdentityProvider
from tests import factories

DISCOVERY = {
    "issuer": "https://login.example.com",
    "authorization_endpoint": "https://login.example.com/authorize",
    "token_endpoint": "https://login.example.com/token",
    "jwks_uri": "https://login.example.com/jwks",
}


def provider(session: Session, now: datetime, **overrides: Any) -> IdentityProvider:
    details = service.ProviderDetails(
        name=overrides.pop("name", "contoso"),
        display_name="Contoso",
        discovery_url="https://login.example.com/.well-known/openid-configuration",
        client_id="vern",
        client_secret="secret",
        domains=overrides.pop("domains", ["contoso.com"]),
        **overrides,
    )
    return service.register(
        session, details, discovery=DISCOVERY, key_set=None, secret_key="k" * 40, now=now
    )


def test_home_realm_discovery_finds_the_active_provider_of_a_domain(
    session: Session, now: datetime
) -> None:
    contoso = provider(session, now)
    assert service.provider_for_email(session, "Kari@Contoso.com") is contoso
    assert service.provider_for_email(session, "kari@elsewhere.com") is None
    assert service.provider_for_email(session, "not an address") is None
    service.set_active(session, contoso, False)
    assert service.provider_for_email(session, "kari@contoso.com") is None


def test_passwords_off_is_per_provider(session: Session, now: datetime) -> None:
    provider(session, now, passwords_off=True)
    provider(session, now, name="fabrikam", domains=["fabrikam.com"])
    assert service.password_refused_by(session, "kari@contoso.com") is not None
    assert service.password_refused_by(session, "ola@fabrikam.com") is None


def test_a_sign_in_under_way_is_used_once_and_not_after_it_expired(
    session: Session, now: datetime
) -> None:
    contoso = provider(session, now)
    flow = oidc.new_flow_secrets()
    service.begin_flow(session, contoso, flow, next_path="/training/basics", now=now)
    claimed = service.claim_flow(session, flow.state, now)
    assert (claimed.nonce, claimed.next_path) == (flow.nonce, "/training/basics")
    with pytest.raises(service.FlowInvalid):
        service.claim_flow(session, flow.state, now)

    late = oidc.new_flow_secrets()
    service.begin_flow(session, contoso, late, next_path=None, now=now)
    with pytest.raises(service.FlowInvalid):
        service.claim_flow(session, late.state, now + service.FLOW_LIFETIME)


def test_a_subject_already_linked_to_someone_else_does_not_take_over_an_address(
    session: Session, now: datetime
) -> None:
    """An address reused at the provider (a new account, a new sub) is not the old person."""
    contoso = provider(session, now)
    kari = factories.user(session, now, email="kari@contoso.com")
    claims = {"sub": "old-account"}
    assert service.person_for(session, contoso, claims, ["kari@contoso.com"], now)[0] is kari
    with pytest.raises(service.NotSetUp, match="another account"):
        service.person_for(session, contoso, {"sub": "new-account"}, ["kari@contoso.com"], now)


def test_an_inactive_person_with_the_address_is_not_created_again(
    session: Session, now: datetime
) -> None:
    contoso = provider(session, now, create_people=True)
    left = factories.user(session, now, email="left@contoso.com")
    people.deactivate(session, left, now - timedelta(days=1))
    with pytest.raises(service.NotSetUp, match="deactivated"):
        service.person_for(session, contoso, {"sub": "x"}, ["left@contoso.com"], now)


def test_registration_refuses_a_taken_name(session: Session, now: datetime) -> None:
    provider(session, now)
    with pytest.raises(service.BadProvider) as refused:
        provider(session, now, domains=["other.com"])
    assert refused.value.field == "name"
