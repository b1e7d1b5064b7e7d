"""Migration 0025 encrypts the secrets already stored (webhook secrets, LRS passwords, the LTI
tool key) under the app's key, and its downgrade gives them back as they were; it forgets the
LRS replies the outbox kept."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, text

from lms.migrate import alembic_config, upgrade
from lms.people import crypto

KEYS = ("the-current-secret-key-" + "c" * 32, "the-previous-key-" + "p" * 32)
NOW = "2026-03-02 09:30:00.000000"


def _private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def test_stored_secrets_are_encrypted_on_upgrade_and_decrypted_on_downgrade(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'secrets.sqlite3'}"
    upgrade(url, "0024")
    pem = _private_pem()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO webhook_endpoints (id, url, secret, events, active, created_at,"
                " after_attestation_id) VALUES (1, 'https://hr.example/hook', 'whsec_abc',"
                " '[\"attestation.signed\"]', 1, :now, 0)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO lrs_endpoints (id, name, url, username, password, send_email, active,"
                " id_seed, read_until, created_at) VALUES (1, 'LRS', 'https://lrs.example/xAPI/',"
                " 'vern', 'lrs-pass', 0, 1, 'seed', :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO lti_tool_keys (id, kid, private_pem, created_at)"
                " VALUES (1, 'kid-1', :pem, :now)"
            ),
            {"pem": pem, "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO outbox_messages (id, dedupe_key, kind, payload, message_id,"
                " created_at, status, attempts, next_attempt_at, last_error) VALUES (1, 'xapi:1',"
                " 'xapi', '{}', '<m1@example.test>', :now, 'pending', 1, :now,"
                ' \'HTTP 400: {"detail": "internal note"}\')'
            ),
            {"now": NOW},
        )
    upgrade(url, "0025", secret_keys=KEYS)
    with engine.connect() as conn:
        secret = conn.execute(text("SELECT secret_encrypted FROM webhook_endpoints")).scalar_one()
        password = conn.execute(text("SELECT password_encrypted FROM lrs_endpoints")).scalar_one()
        stored_pem, public_pem = conn.execute(
            text("SELECT private_pem_encrypted, public_pem FROM lti_tool_keys")
        ).one()
    assert "whsec_abc" not in secret
    assert crypto.decrypt(KEYS[0], secret) == "whsec_abc"
    assert crypto.decrypt(KEYS[0], password) == "lrs-pass"
    assert crypto.decrypt(KEYS[0], stored_pem) == pem
    assert "PRIVATE" not in stored_pem
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    with engine.connect() as conn:
        # An LRS's reply kept with a failed delivery is forgotten: the status stays.
        assert conn.execute(text("SELECT last_error FROM outbox_messages")).scalar_one() == (
            "HTTP 400"
        )

    command.downgrade(alembic_config(url, secret_keys=KEYS), "0024")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT secret FROM webhook_endpoints")).scalar_one() == (
            "whsec_abc"
        )
        assert conn.execute(text("SELECT password FROM lrs_endpoints")).scalar_one() == "lrs-pass"
        assert conn.execute(text("SELECT private_pem FROM lti_tool_keys")).scalar_one() == pem
    engine.dispose()
