"""Vern's RSA key for LTI and the JWKS that publishes its public half."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.integrations.lti.models import LtiToolKey
from lms.people import crypto

KEY_BITS = 2048


def current_key(session: Session) -> LtiToolKey | None:
    """The newest key: the one Vern signs with (older ones stay published until removed)."""
    return session.scalars(select(LtiToolKey).order_by(LtiToolKey.id.desc()).limit(1)).first()


def ensure_key(session: Session, now: datetime, keys: crypto.Keys) -> LtiToolKey:
    """The current key, made on first need (registering the first platform, `lms lti urls`);
    its private half is stored encrypted under `keys`."""
    key = current_key(session)
    if key is not None:
        return key
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    key = LtiToolKey(
        kid=JWK.from_pem(pem.encode()).thumbprint(),
        private_pem_encrypted=crypto.encrypt(keys, pem),
        public_pem=public_pem_of(pem),
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key


def private_pem(key: LtiToolKey, keys: crypto.Keys) -> str:
    """The private key, opened for signing (SecretUnreadable if `keys` cannot open it)."""
    return crypto.decrypt(keys, key.private_pem_encrypted)


def public_pem_of(private_pem: str) -> str:
    """The public half of a PEM private key, as PEM."""
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def public_jwk(key: LtiToolKey) -> dict[str, Any]:
    jwk: dict[str, Any] = JWK.from_pem(key.public_pem.encode()).export_public(as_dict=True)
    return {**jwk, "kid": key.kid, "alg": "RS256", "use": "sig"}


def jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every key Vern has (normally one), for platforms verifying what Vern signed."""
    keys = session.scalars(select(LtiToolKey).order_by(LtiToolKey.id.desc()))
    return {"keys": [public_jwk(key) for key in keys]}
