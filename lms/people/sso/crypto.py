"""Client secrets at rest: encrypted under a key derived from the app's secret key, so a copy
of the database alone does not hand out the company's OpenID client."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Binds the derived key to this one use: the same secret key signs cookies, and a key for
# cookies must not also open client secrets.
_INFO = b"vern sso client secret v1"


class SecretUnreadable(Exception):
    """The stored secret was encrypted under another secret key (it was rotated)."""


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret_key: str, value: str) -> str:
    """The client secret as stored."""
    return _fernet(secret_key).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(secret_key: str, stored: str) -> str:
    """The client secret back, for the token request only."""
    try:
        return _fernet(secret_key).decrypt(stored.encode("ascii")).decode("utf-8")
    except InvalidToken as error:
        raise SecretUnreadable from error
