"""Secrets at rest: what Vern must keep to talk to other systems (identity providers' client
secrets, LRS passwords, webhook signing secrets, the LTI tool's private key) is stored
encrypted under a key derived from the app's secret key (LMS_SECRET_KEY), which lives outside
the database, so a copy of the database alone hands none of them out.

Rotation: the new key encrypts, earlier keys (LMS_OLD_SECRET_KEYS) still decrypt, and
`lms secrets rotate` re-encrypts every stored secret under the new key (docs/deploy.md)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from lms.extensions import settings

# Binds the derived key to this one use: the same secret key signs cookies, and a key for
# cookies must not also open stored secrets. (Named for its first use, single sign-on's client
# secrets; changing it would leave every stored secret unreadable.)
_INFO = b"vern sso client secret v1"
Keys = str | Sequence[str]


class SecretUnreadable(Exception):
    """The stored secret was encrypted under a key Vern no longer has (rotated and dropped)."""


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _ring(keys: Keys) -> MultiFernet:
    ordered = (keys,) if isinstance(keys, str) else tuple(keys)
    if not ordered or not all(ordered):
        raise ValueError("a secret key is needed to keep secrets")
    return MultiFernet([_fernet(key) for key in ordered])


def encrypt(keys: Keys, value: str) -> str:
    """The secret as stored, encrypted under the first (current) key."""
    return _ring(keys).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(keys: Keys, stored: str) -> str:
    """The secret back, for the request that needs it; any of `keys` may open it."""
    try:
        return _ring(keys).decrypt(stored.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError) as error:
        raise SecretUnreadable from error


def rotate(keys: Keys, stored: str) -> str:
    """The secret encrypted again under the current key (readable under any of `keys`)."""
    try:
        return _ring(keys).rotate(stored.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError) as error:
        raise SecretUnreadable from error


def current_keys() -> tuple[str, ...]:
    """The running app's keys, current first: its secret key, then LMS_OLD_SECRET_KEYS."""
    return (str(current_app.secret_key), *settings().old_secret_keys)
