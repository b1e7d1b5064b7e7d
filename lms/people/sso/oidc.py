"""Talking to an OpenID provider: its discovery document and keys, the authorisation URL
(Authlib's client, PKCE), the code exchange, and the id_token checks (joserfc).

Nothing here touches the database: callers read what they need, close their transaction,
call in here, and write the outcome in a new one."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from lms.messages import N_
from lms.people import outbound
from lms.people.outbound import Policy

AGENT = "Vern-SSO/1"
SCOPES = "openid email profile"
# The placeholder Microsoft's multi-tenant discovery documents carry in their issuer.
TENANT_PLACEHOLDER = "{tenantid}"
MICROSOFT_LOGIN = "https://login.microsoftonline.com/"
GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
# What an OAuth error code looks like (RFC 6749 5.2: invalid_grant, unauthorized_client ...).
ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


class ProviderUnavailable(Exception):
    """The provider did not answer as OpenID Connect says; `cause` is for logs and admins,
    never the provider's own reply (which is not echoed anywhere)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class TokenRejected(Exception):
    """The id_token failed a check; `cause` names which."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class UnknownKey(TokenRejected):
    """Signed with a key the cached key set does not hold (the provider may have rotated)."""


@dataclass(frozen=True)
class ProviderConfig:
    """What a sign-in needs of a provider, as plain values (read before any network call)."""

    id: int
    name: str
    client_id: str
    client_secret: str
    discovery: dict[str, Any]
    key_set: dict[str, Any] | None
    domains: tuple[str, ...]
    # Where Vern may send requests (lms.people.outbound): the provider's endpoints included.
    policy: Policy = field(default_factory=Policy)

    @property
    def issuer(self) -> str:
        return str(self.discovery["issuer"])


def allowed_url(url: str, *, policy: Policy) -> bool:
    """An address the policy lets Vern send to (https; http too outside production)."""
    try:
        policy.check_url(url)
    except outbound.OutboundRefused:
        return False
    return True


def fetch_json(url: str, *, policy: Policy) -> dict[str, Any]:
    """GET a JSON object under the outbound policy (allowed address, a timeout, no redirects
    followed, a bounded body)."""
    try:
        value = outbound.get_json(policy, url, agent=AGENT)
    except outbound.OutboundError as error:
        raise ProviderUnavailable(f"{url}: {error.reason}") from None
    if not isinstance(value, dict):
        raise ProviderUnavailable(f"{url}: not a JSON object")
    return value


DISCOVERY_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def fetch_discovery(url: str, *, policy: Policy) -> dict[str, Any]:
    """The provider's discovery document, with the endpoints Vern uses checked."""
    if not allowed_url(url, policy=policy):
        raise ProviderUnavailable(N_("The discovery URL must be an https:// address."))
    document = fetch_json(url, policy=policy)
    for name in DISCOVERY_FIELDS:
        value = document.get(name)
        if not isinstance(value, str) or not value:
            raise ProviderUnavailable(f"{url}: no {name}")
        if name != "issuer" and not allowed_url(value, policy=policy):
            raise ProviderUnavailable(f"{url}: {name} is not https")
    kept = (*DISCOVERY_FIELDS, "end_session_endpoint", "userinfo_endpoint")
    return {name: document[name] for name in kept if isinstance(document.get(name), str)}


def fetch_key_set(config: ProviderConfig) -> dict[str, Any]:
    """The provider's current public keys (JWKS)."""
    key_set = fetch_json(str(config.discovery["jwks_uri"]), policy=config.policy)
    try:
        KeySet.import_key_set(key_set)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise ProviderUnavailable("the key set holds no usable key") from None
    return key_set


def fetch_metadata(discovery_url: str, *, policy: Policy) -> tuple[dict[str, Any], dict[str, Any]]:
    """A provider's discovery document and current keys, for registering it (the admin page
    and `lms sso add` ask the same, with no transaction open)."""
    discovery = fetch_discovery(discovery_url, policy=policy)
    config = ProviderConfig(0, "", "", "", discovery, None, (), policy)
    return discovery, fetch_key_set(config)


@dataclass(frozen=True)
class FlowSecrets:
    """The three values a sign-in carries: state (CSRF), nonce (replay), PKCE verifier."""

    state: str
    nonce: str
    code_verifier: str


def new_flow_secrets() -> FlowSecrets:
    """Fresh random values for one sign-in."""
    return FlowSecrets(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
    )


def _client(config: ProviderConfig, redirect_uri: str) -> OAuth2Session:
    client = OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=SCOPES,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
    )
    return outbound.guard(client, config.policy, AGENT)


def authorization_url(
    config: ProviderConfig,
    flow: FlowSecrets,
    redirect_uri: str,
    *,
    login_hint: str | None = None,
) -> str:
    """Where to send the browser: the Authorization Code flow with PKCE, state and nonce."""
    extra: dict[str, str] = {"nonce": flow.nonce}
    if login_hint:
        extra["login_hint"] = login_hint
    if config.issuer in GOOGLE_ISSUERS and len(config.domains) == 1:
        extra["hd"] = config.domains[0]  # Google shows only that workspace's accounts
    with _client(config, redirect_uri) as client:
        url, _state = client.create_authorization_url(
            str(config.discovery["authorization_endpoint"]),
            state=flow.state,
            code_verifier=flow.code_verifier,
            **extra,
        )
    return str(url)


def exchange_code(
    config: ProviderConfig, code: str, redirect_uri: str, code_verifier: str
) -> dict[str, Any]:
    """Trade the authorisation code for tokens at the provider's token endpoint."""
    endpoint = str(config.discovery["token_endpoint"])
    if not allowed_url(endpoint, policy=config.policy):
        raise ProviderUnavailable("token endpoint is not an https address")
    with _client(config, redirect_uri) as client:
        try:
            token = client.fetch_token(
                endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                timeout=config.policy.timeout,
                allow_redirects=False,
            )
        except (requests.RequestException, outbound.OutboundError) as error:
            raise ProviderUnavailable(f"token endpoint: {outbound.failure(error)}") from None
        except Exception as error:  # noqa: BLE001 - Authlib's OAuthError and JSON errors
            raise ProviderUnavailable(f"token endpoint refused: {_error_code(error)}") from None
    if not isinstance(token.get("id_token"), str):
        raise ProviderUnavailable("token endpoint sent no id_token")
    return dict(token)


def _error_code(error: Exception) -> str:
    """The RFC 6749 error code of a refusal (`invalid_grant`), else the exception's kind: the
    `error` field is the provider's own text, and anything longer than a code is not kept."""
    code = getattr(error, "error", None)
    if isinstance(code, str) and ERROR_CODE.fullmatch(code):
        return code
    return type(error).__name__


def _header(id_token: str) -> dict[str, Any]:
    try:
        return dict(jws.extract_compact(id_token.encode("ascii")).protected)
    except (JoseError, ValueError, UnicodeEncodeError):
        raise TokenRejected("malformed") from None


def verify_signature(id_token: str, key_set: dict[str, Any] | None) -> dict[str, Any]:
    """The token's claims, if a key of `key_set` signed it; UnknownKey if none has its kid."""
    header = _header(id_token)
    if header.get("alg") not in ALGORITHMS:
        raise TokenRejected("algorithm not allowed")
    try:
        keys = KeySet.import_key_set(key_set or {"keys": []})  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise UnknownKey("no usable key cached") from None
    kid = header.get("kid")
    try:
        key = keys.get_by_kid(kid if isinstance(kid, str) else None)
    except (JoseError, ValueError):
        raise UnknownKey(f"unknown kid {kid!r}") from None
    try:
        token = jwt.decode(id_token, key, algorithms=[str(header["alg"])])
    except (JoseError, ValueError):
        if kid is None:
            # Without a kid the only cached key was tried; after a rotation it is the old one.
            raise UnknownKey("bad signature, no kid") from None
        raise TokenRejected("bad signature") from None
    return dict(token.claims)


def expected_issuer(config: ProviderConfig, claims: dict[str, Any]) -> str:
    """The issuer the token must name; Entra's multi-tenant documents leave the tenant open."""
    issuer = config.issuer
    if TENANT_PLACEHOLDER in issuer:
        tenant = claims.get("tid")
        if not isinstance(tenant, str) or not tenant:
            raise TokenRejected("no tid for a multi-tenant issuer")
        return issuer.replace(TENANT_PLACEHOLDER, tenant)
    return issuer


def check_claims(
    config: ProviderConfig, claims: dict[str, Any], *, nonce: str, now: datetime
) -> None:
    """iss, aud (and azp), exp, nonce and, for Google, hd: what OpenID Connect Core 3.1.3.7
    asks of a client."""
    issuer = claims.get("iss")
    # Google documents both forms of its issuer for the tokens it signs.
    google_alias = config.issuer in GOOGLE_ISSUERS and issuer in GOOGLE_ISSUERS
    if issuer != expected_issuer(config, claims) and not google_alias:
        raise TokenRejected("wrong issuer")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if config.client_id not in audiences:
        raise TokenRejected("wrong audience")
    if len(audiences) > 1 and claims.get("azp") not in (None, config.client_id):
        raise TokenRejected("wrong authorised party")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires <= now.timestamp():
        raise TokenRejected("expired")
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
        str(claims["nonce"]), nonce
    ):
        raise TokenRejected("wrong nonce")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRejected("no subject")
    hosted_domain = claims.get("hd")
    google = config.issuer in GOOGLE_ISSUERS
    if (google or hosted_domain is not None) and (
        not isinstance(hosted_domain, str) or hosted_domain.lower() not in config.domains
    ):
        raise TokenRejected("hosted domain outside the provider's domains")


def email_candidates(config: ProviderConfig, claims: dict[str, Any]) -> list[str]:
    """Addresses the provider vouches for, in the provider's domains, best first: a verified
    `email`; at Microsoft, the `preferred_username` and `upn` (Entra sends no
    email_verified, and its sign-in name is the verified UPN)."""
    found: list[str] = []
    if claims.get("email_verified") in (True, "true"):
        found.append(str(claims.get("email") or ""))
    if config.issuer.startswith(MICROSOFT_LOGIN):
        found += [str(claims.get("preferred_username") or ""), str(claims.get("upn") or "")]
    result: list[str] = []
    for value in found:
        address = value.strip().lower()
        domain = address.rpartition("@")[2]
        if "@" in address and domain in config.domains and address not in result:
            result.append(address)
    return result


def logout_url(end_session_endpoint: str, *, id_token: str, client_id: str, back: str) -> str:
    """RP-initiated logout at the provider (OpenID Connect RP-Initiated Logout 1.0)."""
    separator = "&" if "?" in end_session_endpoint else "?"
    query = urlencode(
        {"id_token_hint": id_token, "client_id": client_id, "post_logout_redirect_uri": back}
    )
    return f"{end_session_endpoint}{separator}{query}"
