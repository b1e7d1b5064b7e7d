"""The benchmarks' generated organisation holds what the app itself writes: its ledger (quiz
results, signatures, completions, with their evidence lines and personal fields kept apart)
passes `lms ledger verify` as an operator runs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from bench.organisation import bench_now, generate
from lms import create_app
from lms.config import Settings
from lms.db import Database
from lms.evidence.models import LedgerEntry
from lms.training.models import Attestation, QuizAttempt


@pytest.fixture
def database(fresh_database_url: str) -> Iterator[Database]:
    """The generator commits (and sets SQLite's journal itself): a database of its own."""
    db = Database(fresh_database_url)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def app(settings: Settings, database: Database, fresh_database_url: str) -> Flask:
    return create_app(settings.with_overrides(database_url=fresh_database_url), database=database)


def test_a_generated_organisation_s_ledger_verifies_intact(app: Flask, database: Database) -> None:
    generate(database, people=24, courses=3, now=bench_now(), history=True)
    with database.transaction() as session:
        signatures = session.scalar(select(func.count()).select_from(Attestation))
        attempts = session.scalar(select(func.count()).select_from(QuizAttempt))
        entries = session.scalar(select(func.count()).select_from(LedgerEntry))
    assert signatures
    assert entries == attempts + 2 * signatures  # each quiz result, signature and completion

    runner = app.test_cli_runner()
    init = runner.invoke(args=["lms", "ledger", "init", "--if-missing"])
    assert init.exit_code == 0, init.output
    assert "entries made for what happened before" not in init.output  # nothing left out
    result = runner.invoke(args=["lms", "ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert f"ledger intact: {entries} entries" in result.output
