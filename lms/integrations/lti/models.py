"""LTI 1.3: the platforms an admin registered, Vern's own signing key, the short-lived values
of the OpenID Connect handshake, used nonces, and every launch (who, from where, into which
course, and where the platform wants the score)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from lms.db import Base, UTCDateTime


class LtiPlatform(Base):
    """One registration of Vern in a platform (Moodle, Canvas, Brightspace ...)."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(String(200))
    deployment_ids: Mapped[list[str]] = mapped_column(JSON)
    auth_login_url: Mapped[str] = mapped_column(String(500))
    auth_token_url: Mapped[str] = mapped_column(String(500))
    # Either the platform's JWKS URL or its keys pasted in (a platform without a JWKS URL).
    key_set_url: Mapped[str | None] = mapped_column(String(500))
    key_set: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Trusted to provision: an unknown person launching from it becomes a Vern user.
    provisions_users: Mapped[bool] = mapped_column(Boolean, default=False)
    # Trusted to say who someone is by email: a first launch links the platform's person to
    # the Vern account with that address. Off, a platform could sign in as anyone it names.
    matches_by_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The custom claim naming the person's department (its key), if the platform sends one.
    department_claim: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class LtiToolKey(Base):
    """Vern's RSA key for LTI: signs service tokens' client assertions and deep-link replies;
    its public half is served at the JWKS URL. In the database so every host has the same."""

    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    # Encrypted at rest (lms.people.crypto): whoever holds it can sign as Vern to platforms.
    private_pem_encrypted: Mapped[str] = mapped_column(Text)
    # The public half, served at the JWKS URL without opening the private key.
    public_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LtiStateValue(Base):
    """A value pylti1p3 keeps between the login initiation and the launch (state, nonce,
    launch data): in the database, so the launch may reach another process or host."""

    __tablename__ = "lti_state_values"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LtiUsedNonce(Base):
    """A nonce that already opened a launch: the same id_token presented again is refused."""

    __tablename__ = "lti_used_nonces"
    __table_args__ = (UniqueConstraint("platform_id", "nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id"))
    nonce: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LtiUserLink(Base):
    """A platform's person (its `sub`) is this Vern user."""

    __tablename__ = "lti_user_links"
    __table_args__ = (UniqueConstraint("platform_id", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id"))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LtiLaunch(Base):
    """One accepted launch: the person, the course it opened, and the platform's line item
    for the score (Assignment and Grade Services), if it offered one."""

    __tablename__ = "lti_launches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The platform's id for the person: the user the score is posted for.
    subject: Mapped[str] = mapped_column(String(255))
    course_key: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str | None] = mapped_column(String(255))
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    lineitem_url: Mapped[str | None] = mapped_column(String(500))
    ags_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    launched_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
