"""The id_token rules that differ per provider (Entra's multi-tenant issuer and sign-in
names, Google's hosted domain), the locale mapping, and the secret's encryption."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lms.people import crypto
from lms.people.outbound import Policy
from lms.people.sso import oidc
from lms.people.sso.service import language_for

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ENTRA_COMMON = "https://login.microsoftonline.com/{tenantid}/v2.0"
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def config(issuer: str, domains: tuple[str, ...] = ("contoso.com",)) -> oidc.ProviderConfig:
    discovery = {"issuer": issuer}
    return oidc.ProviderConfig(1, "p", "vern-app", "secret", discovery, None, domains)


def claims(**values: Any) -> dict[str, Any]:
    base = {"aud": "vern-app", "exp": NOW.timestamp() + 300, "nonce": "n-1", "sub": "s-1"}
    return {**base, **values}


def test_entra_multi_tenant_issuer_is_matched_against_the_tokens_tenant() -> None:
    issuer = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    oidc.check_claims(config(ENTRA_COMMON), claims(iss=issuer, tid=TENANT), nonce="n-1", now=NOW)
    other = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0"
    with pytest.raises(oidc.TokenRejected, match="wrong issuer"):
        oidc.check_claims(config(ENTRA_COMMON), claims(iss=other, tid=TENANT), nonce="n-1", now=NOW)
    with pytest.raises(oidc.TokenRejected, match="no tid"):
        oidc.check_claims(config(ENTRA_COMMON), claims(iss=issuer), nonce="n-1", now=NOW)


def test_entra_sign_in_names_count_as_addresses_only_at_microsoft() -> None:
    token = {"preferred_username": "Kari@Contoso.com", "upn": "kari@contoso.com"}
    assert oidc.email_candidates(config(ENTRA_COMMON), token) == ["kari@contoso.com"]
    assert oidc.email_candidates(config("https://contoso.okta.com"), token) == []


def test_an_unverified_or_foreign_email_is_no_candidate() -> None:
    okta = config("https://contoso.okta.com")
    assert oidc.email_candidates(okta, {"email": "kari@contoso.com"}) == []
    verified = {"email": "kari@contoso.com", "email_verified": True}
    assert oidc.email_candidates(okta, verified) == ["kari@contoso.com"]
    foreign = {"email": "kari@gmail.com", "email_verified": True}
    assert oidc.email_candidates(okta, foreign) == []


def test_google_tokens_need_a_hosted_domain_of_the_provider() -> None:
    google = config("https://accounts.google.com")
    base = claims(iss="https://accounts.google.com")
    oidc.check_claims(google, {**base, "hd": "contoso.com"}, nonce="n-1", now=NOW)
    legacy = {**base, "iss": "accounts.google.com", "hd": "contoso.com"}
    oidc.check_claims(google, legacy, nonce="n-1", now=NOW)  # Google's other issuer form
    for token in (base, {**base, "hd": "gmail.com"}):
        with pytest.raises(oidc.TokenRejected, match="hosted domain"):
            oidc.check_claims(google, token, nonce="n-1", now=NOW)


def test_an_audience_list_needs_vern_as_the_authorised_party() -> None:
    okta = config("https://contoso.okta.com")
    token = claims(iss="https://contoso.okta.com", aud=["vern-app", "api"], azp="api")
    with pytest.raises(oidc.TokenRejected, match="authorised party"):
        oidc.check_claims(okta, token, nonce="n-1", now=NOW)
    oidc.check_claims(okta, {**token, "azp": "vern-app"}, nonce="n-1", now=NOW)


@pytest.mark.parametrize(
    ("locale", "language"),
    [("nb", "nb"), ("no", "nb"), ("nn", "nb"), ("nb-NO", "nb"), ("nb_NO", "nb"),
     ("en", "en"), ("en-GB", "en"), ("de-DE", None), (None, None)],
)  # fmt: skip
def test_the_locale_claim_picks_verns_language(locale: str | None, language: str | None) -> None:
    assert language_for(locale) == language


def test_a_secret_encrypted_under_another_key_does_not_open() -> None:
    stored = crypto.encrypt("first-secret-key", "client-secret")
    assert crypto.decrypt("first-secret-key", stored) == "client-secret"
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt("rotated-secret-key", stored)


@pytest.mark.parametrize(
    "url",
    ["http://idp.example.com/.well-known/openid-configuration", "https://127.0.0.1/jwks",
     "https://localhost/jwks", "https://10.1.2.3/jwks", "https://169.254.169.254/latest"],
)  # fmt: skip
def test_production_reaches_providers_over_https_at_public_addresses_only(url: str) -> None:
    with pytest.raises(oidc.ProviderUnavailable, match="http scheme|not a public"):
        oidc.fetch_json(url, policy=Policy())
