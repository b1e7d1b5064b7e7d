"""The migrations produce exactly the schema the models describe (no drift)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from lms.models import Base


def test_migrated_schema_matches_the_models(connection: Connection) -> None:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, Base.metadata) == []


def test_partial_indexes_are_partial_in_the_migrated_schema(connection: Connection) -> None:
    """Alembic's comparison ignores an index's WHERE clause, so a partial index that a migration
    created whole would pass the drift check unnoticed (and change query plans)."""
    option = f"{connection.dialect.name}_where"
    inspector = inspect(connection)
    partial = [
        (index.table.name, index.name)
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options[connection.dialect.name].get("where") is not None
    ]
    assert partial, "the models declare partial indexes"
    for table_name, name in partial:
        reflected = {i["name"]: i for i in inspector.get_indexes(table_name)}
        assert option in reflected[name].get("dialect_options", {}), name


def test_migrations_go_down_and_up_again(tmp_path) -> None:  # noqa: ANN001
    from alembic import command

    from lms.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    upgrade(url)


def test_attestations_get_the_people_backfilled_and_stay_append_only(tmp_path) -> None:  # noqa: ANN001
    import pytest
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from lms.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'backfill.sqlite3'}"
    upgrade(url, "0005")
    engine = create_engine(url)
    now = "2026-03-02 09:30:00.000000"
    with engine.begin() as conn:
        for statement in (
            "INSERT INTO departments (id, key, name) VALUES (1, 'sales', 'Sales')",
            "INSERT INTO users (id, email, full_name, department_id, locale, timezone, active,"
            " digest_opt_in, created_at) VALUES (1, 'kari@example.test', 'Kari Nordmann', 1,"
            " 'nb', 'Europe/Oslo', 1, 0, :now)",
            "INSERT INTO courses (id, key, created_at) VALUES (1, 'basics', :now)",
            "INSERT INTO course_versions (id, course_id, sha256, minor, content, created_at)"
            " VALUES (1, 1, 'abc', 0, '{}', :now)",
            "INSERT INTO assignments (id, user_id, course_id, course_version_id, cycle,"
            " assigned_at, due_on) VALUES (1, 1, 1, 1, 2, :now, '2026-04-01')",
            "INSERT INTO quiz_attempts (id, assignment_id, number, language, served, started_at)"
            " VALUES (1, 1, 1, 'nb', '[]', :now)",
            "INSERT INTO attestations (id, assignment_id, user_id, quiz_attempt_id, course_key,"
            " version_sha256, language, statement_sha256, statement, score_percent, typed_name,"
            " signed_at, prev_hash, hash) VALUES (1, 1, 1, 1, 'basics', 'abc', 'nb', 'def',"
            " 'Jeg lover', 100, 'Kari Nordmann', :now, '0', '1')",
        ):
            conn.execute(text(statement), {"now": now})
    upgrade(url)
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT cycle, person_email, person_name, department FROM attestations")
        ).one()
        assert tuple(row) == (2, "kari@example.test", "Kari Nordmann", "Sales")
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE attestations SET typed_name = 'Forged'"))
    engine.dispose()


def test_the_attestations_own_chain_is_archived_not_lost_and_comes_back_down(tmp_path) -> None:  # noqa: ANN001
    """0024 keeps one chain (the ledger's): the attestations' own chain columns go, their
    values stay in attestation_chain_archive, and a downgrade puts them back."""
    import pytest
    from alembic import command
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from lms.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'chain.sqlite3'}"
    upgrade(url, "0023")
    engine = create_engine(url)
    now = "2026-03-02 09:30:00.000000"
    with engine.begin() as conn:
        for statement in (
            "INSERT INTO users (id, email, full_name, locale, timezone, active, digest_opt_in,"
            " created_at) VALUES (1, 'kari@example.test', 'Kari Nordmann', 'nb', 'Europe/Oslo',"
            " 1, 0, :now)",
            "INSERT INTO courses (id, key, created_at) VALUES (1, 'basics', :now)",
            "INSERT INTO course_versions (id, course_id, sha256, minor, content, created_at)"
            " VALUES (1, 1, 'abc', 0, '{}', :now)",
            "INSERT INTO assignments (id, user_id, course_id, course_version_id, cycle,"
            " assigned_at, due_on) VALUES (1, 1, 1, 1, 1, :now, '2026-04-01')",
            "INSERT INTO quiz_attempts (id, assignment_id, number, language, served, started_at)"
            " VALUES (1, 1, 1, 'nb', '[]', :now)",
            "INSERT INTO attestations (id, assignment_id, user_id, quiz_attempt_id, course_key,"
            " version_sha256, language, statement_sha256, statement, score_percent, typed_name,"
            " signed_at, prev_hash, hash) VALUES (1, 1, 1, 1, 'basics', 'abc', 'nb', 'def',"
            " 'Jeg lover', 100, 'Kari Nordmann', :now, 'p0', 'h1')",
        ):
            conn.execute(text(statement), {"now": now})
    upgrade(url, "0024")
    with engine.begin() as conn:
        archived = conn.execute(text("SELECT * FROM attestation_chain_archive")).all()
        assert [tuple(row) for row in archived] == [(1, "p0", "h1")]
        columns = {c["name"] for c in inspect(conn).get_columns("attestations")}
        assert not columns & {"prev_hash", "hash"}
    for statement in (
        "UPDATE attestations SET typed_name = 'Forged'",
        "DELETE FROM attestations",
        "UPDATE attestation_chain_archive SET hash = 'h2'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.begin() as conn:  # erasure stays possible
        conn.execute(text("UPDATE attestations SET typed_name = '', person_name = NULL"))
    command.downgrade(alembic_config(url), "0023")
    with engine.begin() as conn:
        row = conn.execute(text("SELECT prev_hash, hash FROM attestations")).one()
        assert tuple(row) == ("p0", "h1")
    engine.dispose()
