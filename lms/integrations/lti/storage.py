"""pylti1p3's launch data storage over the database.

The OpenID Connect handshake spans two requests (login initiation, then the launch the
platform posts back), which may reach different processes or hosts; the browser's own session
cookie is not sent on the platform's cross-site POST. So state, nonces and launch data live in
a table, each with an expiry, and expired ones are ignored (and purged by the `lti_scores` job)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy import delete
from sqlalchemy.orm import Session

from lms import clock
from lms.integrations.lti.models import LtiStateValue, LtiUsedNonce

DEFAULT_LIFETIME = timedelta(days=1)


class DatabaseLaunchStorage(LaunchDataStorage[Any]):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self._db = session

    def get_session_cookie_name(self) -> str | None:
        # Values are keyed by random state, nonce and launch ids alone: no browser cookie is
        # needed to find them, which is what makes launches in third-party iframes work.
        return None

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        row = self._db.get(LtiStateValue, self._prepare_key(key))
        if row is None or row.expires_at <= clock.now():
            return None
        return row.value

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        lifetime = timedelta(seconds=exp) if exp else DEFAULT_LIFETIME
        row = self._db.get(LtiStateValue, self._prepare_key(key))
        if row is None:
            row = LtiStateValue(key=self._prepare_key(key))
            self._db.add(row)
        row.value = value
        row.expires_at = clock.now() + lifetime
        self._db.flush()

    def check_value(self, key: str) -> bool:
        return self.get_value(key) is not None

    def remove_value(self, key: str) -> None:
        self._db.execute(delete(LtiStateValue).where(LtiStateValue.key == self._prepare_key(key)))


# An id_token lives minutes and its launch data a day; a nonce older than this cannot come back.
NONCE_MEMORY = timedelta(days=2)


def purge_expired(session: Session, now: datetime) -> int:
    """Drop handshake values past their expiry and nonces too old to be replayed."""
    values = session.execute(delete(LtiStateValue).where(LtiStateValue.expires_at <= now))
    nonces = session.execute(delete(LtiUsedNonce).where(LtiUsedNonce.used_at < now - NONCE_MEMORY))
    return sum(int(getattr(result, "rowcount", 0) or 0) for result in (values, nonces))
