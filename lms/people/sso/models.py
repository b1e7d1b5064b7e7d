"""Single sign-on: the OpenID Connect providers an admin registered, the mail domains each
one answers for, which provider account is which person, the short-lived state of a sign-in
under way, and which Vern login came from which provider (for single logout)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, UTCDateTime


class IdentityProvider(Base):
    """One OpenID Connect provider (Entra ID, Okta, Google Workspace ...) Vern trusts."""

    __tablename__ = "identity_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A short slug: the CLI's handle and part of the sign-in URL (/sso/<name>/start).
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    discovery_url: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    # Fernet token under a key derived from the app's secret key; never shown again.
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # People of these domains may not sign in with a password (they use the provider).
    passwords_off: Mapped[bool] = mapped_column(Boolean, default=False)
    # Trusted to provision: a person Vern does not know yet is created at first sign-in.
    create_people: Mapped[bool] = mapped_column(Boolean, default=False)
    # The claim naming a created person's department (its name), if the provider sends one.
    department_claim: Mapped[str | None] = mapped_column(String(100))
    # The discovery document and key set as last fetched: any worker can start and finish a
    # sign-in without asking the provider again; the keys are refetched on an unknown kid.
    discovery: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    key_set: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    key_set_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    domain_rows: Mapped[list[IdentityProviderDomain]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="IdentityProviderDomain.domain"
    )

    @property
    def domains(self) -> list[str]:
        return [row.domain for row in self.domain_rows]

    @property
    def end_session_endpoint(self) -> str | None:
        value = (self.discovery or {}).get("end_session_endpoint")
        return value if isinstance(value, str) else None


class IdentityProviderDomain(Base):
    """A mail domain a provider answers for; one provider per domain (home-realm discovery)."""

    __tablename__ = "identity_provider_domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_providers.id"), index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)


class SsoIdentity(Base):
    """The provider's subject (`sub`) that is this person: later sign-ins find them by it."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("provider_id", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_providers.id"))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SsoFlow(Base):
    """A sign-in sent to a provider and not yet back: found by the hash of its `state`, used
    once. In the database, so the worker that finishes it need not be the one that began it."""

    __tablename__ = "sso_flows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_providers.id"), index=True)
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SsoLogin(Base):
    """A Vern login opened through a provider, with the id_token single logout hands back."""

    __tablename__ = "sso_logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The same hash LoginSession keeps of the login's token.
    login_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_providers.id"), index=True)
    # Whose it is: the id_token names them, so erasure deletes it with their logins.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    id_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
