"""Single-use links mailed to a person: sign in without a password, or set a new one.

A link carries a random token; Vern stores only its sha256. The token is not random bytes
kept somewhere until the mail goes out: it is an HMAC of a per-link salt under a key derived
from the app's secret key, so the outbox holds just the link's id and the mail renderer
recomputes the token at send time. Someone who reads the database (or a backup of it) gets
no usable link; someone who also has the secret key could sign sessions anyway.

Opening a link (GET) changes nothing; only the POST from the page it opens uses it up, so
mail scanners that fetch every link (Microsoft Defender Safe Links) do not spend it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from lms.config import Settings, development_secret_key
from lms.people.models import LinkPurpose, SignInToken, User

LIFETIMES = {
    LinkPurpose.SIGN_IN: timedelta(minutes=15),
    LinkPurpose.PASSWORD_RESET: timedelta(minutes=30),
}
# The outbox kind of each link's mail (rendered by lms.reminders.link_mails); the outbox key
# is the kind and the link's id, so each link is mailed once.
MAIL_KIND = {
    LinkPurpose.SIGN_IN: "sign_in_link",
    LinkPurpose.PASSWORD_RESET: "password_reset",
}
# Used, void and expired links are kept this long (the audit trail names them), then dropped.
KEEP_SPENT = timedelta(days=7)


class LinkNotValid(Exception):
    """The link is unknown, used, void or expired, or its person can no longer sign in."""


def signing_key(settings: Settings) -> bytes:
    """The key links are derived under: the app's secret key, bound to this one use."""
    secret = settings.secret_key or development_secret_key(settings.instance_path)
    return hmac.new(secret.encode("utf-8"), b"vern sign-in links", hashlib.sha256).digest()


def token_for(link: SignInToken, key: bytes) -> str:
    """The token mailed for `link` (recomputed from its salt; never stored)."""
    message = f"{link.purpose}:{link.salt}".encode("ascii")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(
    session: Session,
    user: User,
    purpose: LinkPurpose,
    *,
    now: datetime,
    key: bytes,
    next_path: str | None = None,
) -> SignInToken:
    """A new link for `user`; their older links for the same purpose stop working."""
    void_outstanding(session, user.id, now, purpose)
    link = SignInToken(
        user_id=user.id,
        purpose=str(purpose),
        salt=secrets.token_hex(32),
        created_at=now,
        expires_at=now + LIFETIMES[purpose],
        next_path=next_path[:500] if next_path else None,
    )
    link.token_hash = _hash(token_for(link, key))
    session.add(link)
    session.flush()
    return link


def usable(link: SignInToken, now: datetime) -> bool:
    """Whether `link` can still be used (not used, not void, not expired)."""
    return link.used_at is None and link.voided_at is None and link.expires_at > now


def find(session: Session, token: str, purpose: LinkPurpose, now: datetime) -> SignInToken:
    """The usable link behind `token` for an active person, without using it up."""
    link = session.scalar(
        select(SignInToken).where(
            SignInToken.token_hash == _hash(token), SignInToken.purpose == str(purpose)
        )
    )
    if link is None or not usable(link, now):
        raise LinkNotValid("unknown, used, void or expired link")
    user = session.get(User, link.user_id)
    if user is None or not user.active:
        raise LinkNotValid("the person cannot sign in")
    return link


def consume(session: Session, token: str, purpose: LinkPurpose, now: datetime) -> SignInToken:
    """Use the link up and return it; a second use (or a race for the first) is refused."""
    link = find(session, token, purpose, now)
    # Conditional on still being unused, so of two requests racing with one link only one wins.
    result = session.execute(
        update(SignInToken)
        .where(
            SignInToken.id == link.id,
            SignInToken.used_at.is_(None),
            SignInToken.voided_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkNotValid("the link was used a moment ago")
    session.refresh(link)
    return link


def void_outstanding(
    session: Session, user_id: int, now: datetime, purpose: LinkPurpose | None = None
) -> None:
    """Make the person's unused links void (all of them, or those for `purpose`)."""
    conditions = [
        SignInToken.user_id == user_id,
        SignInToken.used_at.is_(None),
        SignInToken.voided_at.is_(None),
    ]
    if purpose is not None:
        conditions.append(SignInToken.purpose == str(purpose))
    session.execute(
        update(SignInToken)
        .where(*conditions)
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )


def prune(session: Session, now: datetime) -> int:
    """Drop links that expired more than KEEP_SPENT ago; the sweep calls this."""
    result = session.execute(delete(SignInToken).where(SignInToken.expires_at <= now - KEEP_SPENT))
    return int(getattr(result, "rowcount", 0) or 0)
