"""Identity providers and who they sign in: registration, home-realm discovery, the
server-side state of a sign-in under way, and matching a verified token to a person."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lms.messages import N_
from lms.people import crypto
from lms.people import service as people
from lms.people.models import User
from lms.people.outbound import Policy
from lms.people.sso.models import (
    IdentityProvider,
    IdentityProviderDomain,
    SsoFlow,
    SsoIdentity,
    SsoLogin,
)
from lms.people.sso.oidc import FlowSecrets, ProviderConfig

FLOW_LIFETIME = timedelta(minutes=10)
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
NORWEGIAN = frozenset({"nb", "no", "nn"})


class BadProvider(Exception):
    """A registration that cannot be kept; `field` names the form field at fault."""

    def __init__(self, field: str, message: str, **values: Any) -> None:
        super().__init__(message % values if values else message)
        self.field = field
        self.message = message
        self.values = values


class FlowInvalid(Exception):
    """No sign-in under way has this state (forged, used already, or expired)."""


class NotSetUp(Exception):
    """The provider vouched for someone Vern will not sign in; `cause` is for the audit."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(frozen=True)
class ProviderDetails:
    """What an admin enters to register a provider."""

    name: str
    display_name: str
    discovery_url: str
    client_id: str
    client_secret: str
    domains: list[str] = field(default_factory=list)
    passwords_off: bool = False
    create_people: bool = False
    department_claim: str | None = None


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def domain_of(email: str) -> str:
    """The mail domain of an address, lower case ('' if there is none)."""
    local, _at, domain = email.strip().lower().rpartition("@")
    return domain if local else ""


def _domains(session: Session, raw: list[str], provider_id: int | None) -> list[str]:
    domains: list[str] = []
    for value in raw:
        domain = value.strip().lower().lstrip("@")
        if not domain:
            continue
        if not DOMAIN.match(domain):
            raise BadProvider("domains", N_("%(domain)s is not a mail domain."), domain=domain)
        taken = session.scalar(
            select(IdentityProviderDomain).where(IdentityProviderDomain.domain == domain)
        )
        if taken is not None and taken.provider_id != provider_id:
            raise BadProvider(
                "domains", N_("%(domain)s belongs to another provider already."), domain=domain
            )
        if domain not in domains:
            domains.append(domain)
    if not domains:
        raise BadProvider("domains", N_("Enter at least one mail domain."))
    return domains


def validate(session: Session, details: ProviderDetails) -> ProviderDetails:
    """The details cleaned up, or BadProvider naming the first field at fault."""
    name = details.name.strip().lower()
    if not NAME.match(name):
        raise BadProvider(
            "name", N_("Use lower-case letters, digits and hyphens (at most 64), e.g. contoso.")
        )
    if session.scalar(select(IdentityProvider.id).where(IdentityProvider.name == name)):
        raise BadProvider("name", N_("A provider with this name exists already."))
    display_name = " ".join(details.display_name.split())
    if not display_name:
        raise BadProvider("display_name", N_("Enter the name people know the provider by."))
    client_id = details.client_id.strip()
    if not client_id:
        raise BadProvider("client_id", N_("Enter the client ID the provider gave Vern."))
    if not details.client_secret.strip():
        raise BadProvider("client_secret", N_("Enter the client secret the provider gave Vern."))
    return ProviderDetails(
        name=name,
        display_name=display_name[:100],
        discovery_url=details.discovery_url.strip(),
        client_id=client_id,
        client_secret=details.client_secret.strip(),
        domains=_domains(session, details.domains, None),
        passwords_off=details.passwords_off,
        create_people=details.create_people,
        department_claim=(details.department_claim or "").strip() or None,
    )


def register(
    session: Session,
    details: ProviderDetails,
    *,
    discovery: dict[str, Any],
    key_set: dict[str, Any] | None,
    secret_key: str,
    now: datetime,
    created_by_id: int | None = None,
) -> IdentityProvider:
    """Keep a provider whose discovery document (and keys) the caller fetched already."""
    clean = validate(session, details)
    provider = IdentityProvider(
        name=clean.name,
        display_name=clean.display_name,
        discovery_url=clean.discovery_url,
        client_id=clean.client_id,
        client_secret_encrypted=crypto.encrypt(secret_key, clean.client_secret),
        active=True,
        passwords_off=clean.passwords_off,
        create_people=clean.create_people,
        department_claim=clean.department_claim,
        discovery=discovery,
        key_set=key_set,
        key_set_fetched_at=now if key_set is not None else None,
        created_at=now,
        created_by_id=created_by_id,
    )
    provider.domain_rows = [IdentityProviderDomain(domain=domain) for domain in clean.domains]
    session.add(provider)
    session.flush()
    return provider


def audit_detail(provider: IdentityProvider) -> dict[str, Any]:
    """What an audit event about a change to `provider` says of it (admin page and CLI)."""
    return {
        "provider_name": provider.name,
        "domains": provider.domains,
        "passwords_off": provider.passwords_off,
        "create_people": provider.create_people,
        "active": provider.active,
    }


def providers(session: Session) -> list[IdentityProvider]:
    """Every registered provider, by name."""
    return list(session.scalars(select(IdentityProvider).order_by(IdentityProvider.name)))


def active_providers(session: Session) -> list[IdentityProvider]:
    """The providers the login page offers a button for."""
    return [provider for provider in providers(session) if provider.active]


def provider_by_name(session: Session, name: str) -> IdentityProvider | None:
    """The provider with this CLI/URL name."""
    return session.scalar(select(IdentityProvider).where(IdentityProvider.name == name))


def provider_for_email(session: Session, email: str) -> IdentityProvider | None:
    """The active provider whose domains cover this address (home-realm discovery)."""
    domain = domain_of(email)
    if not domain:
        return None
    return session.scalar(
        select(IdentityProvider)
        .join(IdentityProviderDomain, IdentityProviderDomain.provider_id == IdentityProvider.id)
        .where(IdentityProviderDomain.domain == domain, IdentityProvider.active.is_(True))
    )


def password_refused_by(session: Session, email: str) -> IdentityProvider | None:
    """The provider that switched passwords off for this address's domain, if any."""
    provider = provider_for_email(session, email)
    return provider if provider is not None and provider.passwords_off else None


def replace_secret(
    session: Session, provider: IdentityProvider, client_secret: str, *, secret_key: str
) -> None:
    """A new client secret (the old one expired, or the app's secret key was changed)."""
    if not client_secret.strip():
        raise BadProvider("client_secret", N_("Enter the client secret the provider gave Vern."))
    provider.client_secret_encrypted = crypto.encrypt(secret_key, client_secret.strip())
    session.flush()


def set_active(session: Session, provider: IdentityProvider, active: bool) -> None:
    """Switch a provider on or off; switched off, its button and redirects are gone."""
    provider.active = active
    session.flush()


def set_passwords_off(session: Session, provider: IdentityProvider, off: bool) -> None:
    """Refuse (or allow again) password sign-in for the provider's domains."""
    provider.passwords_off = off
    session.flush()


def remove(session: Session, provider: IdentityProvider) -> None:
    """Forget a provider, its person links and sign-ins under way (people stay)."""
    for model in (SsoFlow, SsoIdentity, SsoLogin):
        session.execute(delete(model).where(model.provider_id == provider.id))
    session.delete(provider)
    session.flush()


def config_for(
    provider: IdentityProvider, secret_key: crypto.Keys, *, policy: Policy
) -> ProviderConfig:
    """The provider as plain values, secret decrypted, for talking to it outside a transaction."""
    return ProviderConfig(
        id=provider.id,
        name=provider.name,
        client_id=provider.client_id,
        client_secret=crypto.decrypt(secret_key, provider.client_secret_encrypted),
        discovery=dict(provider.discovery or {}),
        key_set=dict(provider.key_set) if provider.key_set else None,
        domains=tuple(provider.domains),
        policy=policy,
    )


def store_key_set(
    session: Session, provider_id: int, key_set: dict[str, Any], now: datetime
) -> None:
    """Cache the provider's keys as fetched now (after a rotation, say)."""
    provider = session.get(IdentityProvider, provider_id)
    if provider is not None:
        provider.key_set = key_set
        provider.key_set_fetched_at = now
        session.flush()


def begin_flow(
    session: Session,
    provider: IdentityProvider,
    flow: FlowSecrets,
    *,
    next_path: str | None,
    now: datetime,
) -> None:
    """Keep a sign-in's nonce and PKCE verifier under the hash of its state until it is back."""
    session.execute(delete(SsoFlow).where(SsoFlow.expires_at <= now))
    session.add(
        SsoFlow(
            state_hash=_hash(flow.state),
            provider_id=provider.id,
            nonce=flow.nonce,
            code_verifier=flow.code_verifier,
            next_path=(next_path or "")[:500] or None,
            created_at=now,
            expires_at=now + FLOW_LIFETIME,
        )
    )
    session.flush()


@dataclass(frozen=True)
class ClaimedFlow:
    """A sign-in come back, its row gone: a second use of the same state finds nothing."""

    provider_id: int
    nonce: str
    code_verifier: str
    next_path: str | None


def state_hash(state: str) -> str:
    """How a state is kept (and compared with the one the browser started)."""
    return _hash(state)


def claim_flow(session: Session, state: str, now: datetime) -> ClaimedFlow:
    """Take the sign-in under way with this state, once; FlowInvalid if there is none."""
    flow = session.scalar(select(SsoFlow).where(SsoFlow.state_hash == _hash(state)))
    if flow is None:
        raise FlowInvalid
    claimed = ClaimedFlow(flow.provider_id, flow.nonce, flow.code_verifier, flow.next_path)
    expired = flow.expires_at <= now
    # Two callbacks with one state at once (a replay race): only the one whose delete took
    # the row goes on.
    deleted = session.execute(
        delete(SsoFlow).where(SsoFlow.id == flow.id).execution_options(synchronize_session=False)
    )
    session.expunge(flow)
    if expired or getattr(deleted, "rowcount", 0) != 1:
        raise FlowInvalid
    return claimed


def language_for(locale: object) -> str | None:
    """Vern's language for a `locale` claim (nb, no, nn, nb-NO: Norwegian; en*: English)."""
    if not isinstance(locale, str):
        return None
    primary = locale.strip().lower().replace("_", "-").split("-")[0]
    if primary in NORWEGIAN:
        return "nb"
    return "en" if primary == "en" else None


def _full_name(claims: dict[str, Any], email: str) -> str:
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return name
    parts = [claims.get("given_name"), claims.get("family_name")]
    joined = " ".join(part for part in parts if isinstance(part, str) and part.strip())
    return joined or email


def _create_person(
    session: Session, provider: IdentityProvider, claims: dict[str, Any], email: str, now: datetime
) -> User:
    department = None
    if provider.department_claim:
        value = claims.get(provider.department_claim)
        if isinstance(value, str) and value.strip():
            department = people.department_for_name(session, value.strip()[:200], now)
    return people.create_user(
        session,
        email=email,
        full_name=_full_name(claims, email)[:200],
        now=now,
        department=department,
        locale=language_for(claims.get("locale")) or "en",
    )


def _first_person_with(session: Session, addresses: list[str]) -> User | None:
    for address in addresses:
        user = people.user_by_email(session, address)
        if user is not None:
            return user
    return None


def person_for(
    session: Session,
    provider: IdentityProvider,
    claims: dict[str, Any],
    addresses: list[str],
    now: datetime,
) -> tuple[User, bool]:
    """Who a verified token signs in: the person linked to its `sub`; else the active person
    with one of `addresses` (the link is then kept); else, where the provider may create
    people, a new person. Returns (person, created); NotSetUp when nobody may sign in."""
    subject = str(claims["sub"])
    link = session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.provider_id == provider.id, SsoIdentity.subject == subject
        )
    )
    if link is not None:
        user = session.get(User, link.user_id)
        if user is None or not user.active:
            raise NotSetUp("deactivated")
        link.last_sign_in_at = now
        return user, False
    if not addresses:
        raise NotSetUp("no verified address in the provider's domains")
    created = False
    user = _first_person_with(session, addresses)
    if user is None:
        if not provider.create_people:
            raise NotSetUp("unknown")
        user, created = _create_person(session, provider, claims, addresses[0], now), True
    elif not user.active:
        raise NotSetUp("deactivated")
    elif session.scalar(
        select(SsoIdentity.id).where(
            SsoIdentity.provider_id == provider.id, SsoIdentity.user_id == user.id
        )
    ):
        # The address was someone else's account at the provider before (a reused address).
        raise NotSetUp("linked to another account of the provider")
    session.add(
        SsoIdentity(
            provider_id=provider.id,
            subject=subject,
            user_id=user.id,
            created_at=now,
            last_sign_in_at=now,
        )
    )
    session.flush()
    return user, created


def remember_login(
    session: Session,
    login_token: str,
    provider_id: int,
    id_token: str,
    *,
    user_id: int,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Note which provider opened this login, for single logout."""
    session.execute(delete(SsoLogin).where(SsoLogin.expires_at <= now))
    session.add(
        SsoLogin(
            login_token_hash=_hash(login_token),
            provider_id=provider_id,
            user_id=user_id,
            id_token=id_token,
            expires_at=expires_at,
        )
    )
    session.flush()


def take_login(session: Session, login_token: str) -> tuple[IdentityProvider, str] | None:
    """The provider and id_token behind a login that is ending (and forget them)."""
    row = session.scalar(select(SsoLogin).where(SsoLogin.login_token_hash == _hash(login_token)))
    if row is None:
        return None
    provider = session.get(IdentityProvider, row.provider_id)
    id_token = row.id_token
    session.delete(row)
    session.flush()
    return (provider, id_token) if provider is not None else None


def forget_person(session: Session, user_id: int) -> None:
    """Erasure: which provider account was theirs, and the id_tokens that named them."""
    session.execute(delete(SsoIdentity).where(SsoIdentity.user_id == user_id))
    session.execute(delete(SsoLogin).where(SsoLogin.user_id == user_id))


def accounts_of(session: Session, user_id: int) -> list[tuple[SsoIdentity, str]]:
    """The provider accounts linked to a person, with each provider's button name (My data)."""
    rows = session.execute(
        select(SsoIdentity, IdentityProvider.display_name)
        .join(IdentityProvider, IdentityProvider.id == SsoIdentity.provider_id)
        .where(SsoIdentity.user_id == user_id)
        .order_by(SsoIdentity.id)
    )
    return [(identity, name) for identity, name in rows]
