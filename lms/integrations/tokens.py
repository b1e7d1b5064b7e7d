"""API tokens: created by an admin, shown once, stored hashed, scoped, revocable, audited."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lms.db import Base, UTCDateTime

TOKEN_PREFIX = "vern_"  # noqa: S105 - marks a string as a Vern token, it is not one


class Scope(StrEnum):
    SCIM = "scim"
    EVIDENCE = "evidence"
    WEBHOOKS = "webhooks"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(16))
    # The first characters, to recognise a token in lists and logs without revealing it.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TokenRejected(Exception):
    """No valid token for this scope; the message is safe to return to the caller."""


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_token(
    session: Session, *, name: str, scope: Scope, now: datetime, created_by_id: int | None = None
) -> tuple[ApiToken, str]:
    """A new token; the raw value is returned this once and never stored."""
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise ValueError("a token needs a name of 1 to 100 characters")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        scope=str(scope),
        prefix=raw[:12],
        token_hash=_hash(raw),
        created_at=now,
        created_by_id=created_by_id,
    )
    session.add(token)
    session.flush()
    return token, raw


def authenticate(session: Session, raw: str, scope: Scope, now: datetime) -> ApiToken:
    """The live token with this value and scope, marked as used now; else TokenRejected."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(raw)))
    if token is None or token.revoked_at is not None:
        raise TokenRejected("invalid or revoked token")
    if token.scope != str(scope):
        raise TokenRejected(f"this token is not valid for {scope}")
    token.last_used_at = now
    session.flush()
    return token


def revoke(session: Session, token_id: int, now: datetime) -> bool:
    token = session.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = now
    session.flush()
    return True


def tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
