"""`lms ledger init | checkpoint | verify | public-key` as an operator runs them."""

from __future__ import annotations

import stat
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.evidence.keys import public_pem
from lms.evidence.models import LedgerCheckpoint, LedgerEntry
from tests.unit.training.conftest import Learner

pytestmark = pytest.mark.usefixtures("now")


def run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["lms", "ledger", *args])
    return result.exit_code, result.output  # click 8.2+: stdout and stderr together


def test_init_makes_a_private_key_enters_history_and_signs(
    app: Flask, settings: Settings, session: Session, learner: Learner
) -> None:
    learner.pass_quiz()
    learner.sign()
    session.execute(text("DELETE FROM ledger_personal"))
    _forget_ledger(session)  # as if these were recorded before the ledger existed
    session.commit()

    code, output = run(app, "init")
    assert code == 0, output
    assert "3 entries made for what happened before" in output
    assert "BEGIN PUBLIC KEY" in output
    assert stat.S_IMODE(settings.ledger_key.stat().st_mode) == 0o600
    session.expire_all()
    sources = session.scalars(select(LedgerEntry.source).order_by(LedgerEntry.seq))
    assert list(sources) == ["backfill"] * 3  # the quiz, the signature, the completion
    assert session.scalar(select(func.count()).select_from(LedgerCheckpoint)) == 1

    code, output = run(app, "init")
    assert code != 0
    assert "already exists" in output
    assert run(app, "init", "--if-missing")[0] == 0


def _without_guards(session: Session) -> None:
    """Lift the append-only triggers, as someone with full database access could."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER ledger_entries_no_delete"))
        session.execute(text("DROP TRIGGER ledger_entries_no_update"))
    else:
        session.execute(
            text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        )


def _forget_ledger(session: Session) -> None:
    _without_guards(session)
    session.execute(text("DELETE FROM ledger_entries"))


def test_verify_passes_then_names_the_entry_someone_changed(
    app: Flask, session: Session, learner: Learner, now: datetime
) -> None:
    learner.pass_quiz()
    learner.sign()
    session.commit()
    assert run(app, "init")[0] == 0

    code, output = run(app, "verify")
    assert code == 0, output
    assert "ledger intact: 3 entries, 1 checkpoints" in output

    _without_guards(session)
    session.execute(text("UPDATE ledger_entries SET language = 'nb' WHERE seq = 2"))
    session.commit()
    code, output = run(app, "verify")
    assert code == 1
    assert "sequence 2" in output


def test_verify_with_someone_else_s_public_key_fails(
    app: Flask, session: Session, learner: Learner, tmp_path: Path
) -> None:
    learner.pass_quiz()
    session.commit()
    assert run(app, "init")[0] == 0
    other = tmp_path / "other.pem"
    other.write_text(public_pem(Ed25519PrivateKey.generate().public_key()))
    code, output = run(app, "verify", "--public-key", str(other))
    assert code == 1
    assert "not signed by this public key" in output


def test_checkpoint_and_public_key_need_the_key(app: Flask) -> None:
    code, output = run(app, "checkpoint")
    assert code != 0
    assert "lms ledger init" in output
    assert run(app, "init")[0] == 0
    code, output = run(app, "checkpoint")
    assert (code, output.strip()) == (0, "nothing new to sign")
    assert "BEGIN PUBLIC KEY" in run(app, "public-key")[1]


def test_a_tail_cut_after_the_last_checkpoint_is_caught_by_the_records_it_leaves_behind(
    app: Flask, session: Session, learner: Learner
) -> None:
    learner.pass_quiz()
    session.commit()
    assert run(app, "init")[0] == 0  # signs entry 1
    signed = learner.sign()  # entries 2 and 3, not yet signed by a checkpoint
    session.commit()
    _without_guards(session)
    session.execute(text("DELETE FROM ledger_personal WHERE seq >= 2"))
    session.execute(text("DELETE FROM ledger_entries WHERE seq >= 2"))
    session.commit()
    code, output = run(app, "verify")
    assert code == 1
    assert f"attestations {signed.id}: has no ledger entry" in output
