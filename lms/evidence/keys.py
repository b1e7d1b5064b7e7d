"""The installation's Ed25519 signing key: made once by `lms ledger init`, kept in a file.

Whoever holds the private key can sign checkpoints, so the file is created readable by its
owner only and belongs in the backups (docs/operations.md); the public key goes to auditors."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class LedgerKeyError(Exception):
    """The key file is missing, unreadable or not an Ed25519 key; the message says which."""


def create_key(path: Path) -> Ed25519PrivateKey:
    """Write a new private key to `path` (mode 0600); refuses to replace an existing one."""
    if path.exists():
        raise LedgerKeyError(f"{path} already exists; Vern never replaces a signing key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise LedgerKeyError(
            f"No ledger key at {path}: run `flask --app app lms ledger init`"
        ) from None
    except ValueError as error:
        raise LedgerKeyError(f"{path} is not a PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerKeyError(f"{path} is not an Ed25519 key")
    return key


def load_public_key(data: bytes, name: str = "the public key") -> Ed25519PublicKey:
    """A public key from PEM, or from the private key's PEM (whose public half it takes)."""
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            public = private.public_key()
        else:
            public = serialization.load_pem_public_key(data)
    except ValueError as error:
        raise LedgerKeyError(f"{name} is not a PEM key: {error}") from None
    if not isinstance(public, Ed25519PublicKey):
        raise LedgerKeyError(f"{name} is not an Ed25519 key")
    return public


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    """The public key's fingerprint: sha256 over its 32 raw bytes, in hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode("ascii")


def signature_ok(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
