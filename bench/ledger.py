"""`python -m bench.ledger`: verifying a ledger of a million entries (target: at most 5 s).

The ledger is generated straight into the table (valid hashes, 50,000 people, 15 courses).
Baseline, in the same run: reading every row the verification reads, without hashing; the
difference is what checking the chain costs."""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

from bench.run import machine
from lms.db import Database
from lms.evidence import ledger
from lms.evidence.models import LedgerEntry
from lms.migrate import upgrade

CHUNK = 50_000
KINDS = ("quiz_result", "attestation", "completion")


def generate(database: Database, count: int, people: int = 50_000) -> float:
    rng = random.Random(7)  # noqa: S311 - test data
    refs = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(people)]
    courses = [(f"course-{n}", f"{rng.getrandbits(256):064x}") for n in range(15)]
    started = time.perf_counter()
    previous = ledger.GENESIS
    rows: list[dict[str, object]] = []
    for seq in range(1, count + 1):
        kind = KINDS[seq % 3]
        course, version = courses[seq % 15]
        values: dict[str, object] = {
            "seq": seq,
            "at": f"2026-{1 + seq % 12:02d}-{1 + seq % 28:02d}T09:{seq % 60:02d}:00.000000Z",
            "kind": kind,
            "person_ref": refs[seq % people],
            "course_key": course,
            "version_sha256": version,
            "statement_sha256": version if kind == "attestation" else None,
            "language": "en",
            "score": 80 + seq % 21,
            "source": "app",
            "record": f"attempt:{seq}",
            "personal_digest": version if kind == "attestation" else None,
            "prev_hash": previous,
        }
        values["hash"] = previous = ledger.entry_hash(tuple(values[f] for f in ledger.FIELDS))
        rows.append(values)
        if len(rows) == CHUNK:
            _insert(database, rows)
    _insert(database, rows)
    return time.perf_counter() - started


def _insert(database: Database, rows: list[dict[str, object]]) -> None:
    if rows:
        with database.transaction() as session:
            session.execute(insert(LedgerEntry), rows)
        rows.clear()


def read_only(database: Database) -> float:
    """The baseline: the same read from the driver the verification does, no hashing."""
    started = time.perf_counter()
    with database.transaction() as session:
        for _ in ledger.entry_rows(session):
            pass
    return time.perf_counter() - started


def verify(database: Database) -> tuple[float, int]:
    started = time.perf_counter()
    with database.transaction() as session:
        good, _, problem = ledger.verify_chain(session, set())
    if problem is not None:
        raise SystemExit(f"the generated ledger does not verify: {problem}")
    return time.perf_counter() - started, good


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--write", type=Path, help="append the results table to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/ledger.sqlite3"
        upgrade(url)
        database = Database(url)
        generated = generate(database, args.entries)
        baseline = min(read_only(database) for _ in range(2))
        seconds, good = min(verify(database) for _ in range(2))
        database.dispose()
    dialect = url.split(":", 1)[0].split("+")[0]
    table = "\n".join(
        [
            f"### {time.strftime('%Y-%m-%d')} — ledger verification, {good:,} entries, {dialect}",
            "",
            f"Machine: {machine()}. Ledger generated in {generated:.0f} s.",
            "",
            "| measure | time | target | ratio to baseline |",
            "| --- | --- | --- | --- |",
            f"| baseline: read every entry, no hashing | {baseline:.2f} s | – | 1× |",
            f"| `lms ledger verify`'s chain check | {seconds:.2f} s | ≤ 5 s | "
            f"{seconds / baseline:.1f}× |",
            "",
        ]
    )
    print(table)
    if args.write:
        with args.write.open("a", encoding="utf-8") as out:
            out.write("\n" + table)


if __name__ == "__main__":
    main()
