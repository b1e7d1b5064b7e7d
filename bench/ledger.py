"""`python -m bench.ledger`: verifying a ledger of a million entries, and every evidence record
behind them, as `lms ledger verify` does (target: at most 5 s).

The ledger is generated straight into the tables with its records (valid hashes and evidence
lines, 50,000 people, 15 courses): per signature a graded quiz attempt and an attestation, and
three entries (the quiz result, the signature, the completion), with the personal fields kept
apart. Baseline, in the same run: reading every entry the verification reads, without hashing
and without the records; the difference is what checking costs. The chain alone is measured
too; `lms ledger verify` checks the records in the chain's own pass, so what they cost is the
difference between the two."""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.organisation import _insert
from bench.run import machine
from lms.catalog.models import Course, CourseVersion
from lms.db import Database
from lms.evidence import binding, ledger
from lms.evidence.models import LedgerEntry, LedgerPersonal, LedgerSubject
from lms.migrate import upgrade
from lms.people.models import User
from lms.training import evidence_lines
from lms.training.evidence_lines import RecordsCheck
from lms.training.models import Assignment, Attestation, QuizAttempt

CHUNK = 60_000  # signatures per transaction (three entries each)
STATEMENT = "I will follow what I learned."
BANK = 40  # questions in a course's bank; each attempt is served 8 of them, as the app draws


def _draw(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The questions one attempt was served and the answers given: a draw of its own, so
    no two attempts need share their digests (the verification cannot remember them)."""
    picked = rng.sample(range(BANK), 8)
    served = [{"question": f"q{q}", "options": ["a", "b", "c"]} for q in picked]
    return served, {f"q{q}": [rng.choice("abc")] for q in picked}


START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _people(database: Database, people: int) -> tuple[list[str], list[str]]:
    rng = random.Random(7)  # noqa: S311 - test data
    refs = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(people)]
    keys = [f"{rng.getrandbits(256):064x}" for _ in range(people)]
    with database.transaction() as session:
        users = [
            {
                "id": n + 1,
                "email": f"p{n}@bench.example",
                "full_name": f"Person {n}",
                "locale": "en",
                "timezone": "Europe/Oslo",
                "active": True,
                "digest_opt_in": False,
                "created_at": START,
            }
            for n in range(people)
        ]
        _insert(session, User.__table__, users)
        subjects = [
            {"user_id": n + 1, "ref": refs[n], "digest_key": keys[n], "created_at": START}
            for n in range(people)
        ]
        _insert(session, LedgerSubject.__table__, subjects)
        courses = [{"id": n + 1, "key": f"course-{n}", "created_at": START} for n in range(15)]
        _insert(session, Course.__table__, courses)
        versions = [
            {
                "id": n + 1,
                "course_id": n + 1,
                "sha256": f"{n:064x}",
                "minor": False,
                "content": {},
                "created_at": START,
            }
            for n in range(15)
        ]
        _insert(session, CourseVersion.__table__, versions)
    return refs, keys


def generate(database: Database, count: int, people: int = 50_000) -> float:
    """`count` entries (rounded to whole signatures) with their records."""
    started = time.perf_counter()
    refs, keys = _people(database, people)
    previous, seq = ledger.GENESIS, 0
    tables: dict[Any, list[dict[str, Any]]] = {
        t: [] for t in (Assignment, QuizAttempt, Attestation, LedgerEntry, LedgerPersonal)
    }

    def append(values: dict[str, Any]) -> None:
        nonlocal previous, seq
        seq += 1
        values["seq"], values["prev_hash"] = seq, previous
        values["hash"] = previous = ledger.entry_hash(tuple(values[f] for f in ledger.FIELDS))
        tables[LedgerEntry].append(values)

    rng = random.Random(11)  # noqa: S311 - test data
    for n in range(1, count // 3 + 1):
        served, answers = _draw(rng)
        # Where and with what each signature was made differs, as the name typed may not.
        ip, agent = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", f"bench/{n % 7}"
        person, course = n % people, n % 15
        user_id, sha, key = person + 1, f"{course:064x}", f"course-{course}"
        at = START + timedelta(seconds=n)
        tables[Assignment].append(
            {
                "id": n,
                "user_id": user_id,
                "course_id": course + 1,
                "course_version_id": course + 1,
                "cycle": 1 + n // people,
                "assigned_at": START,
                "due_on": START.date(),
                "completed_at": at,
            }
        )
        attempt = {
            "id": n,
            "assignment_id": n,
            "number": 1,
            "language": "en",
            "served": served,
            "started_at": at,
            "submitted_at": at,
            "answers": answers,
            "correct_count": 8,
            "score_percent": 100,
            "passed": True,
        }
        tables[QuizAttempt].append(attempt)
        common = {
            "at": ledger.iso_at(at),
            "person_ref": refs[person],
            "course_key": key,
            "version_sha256": sha,
            "language": "en",
            "score": 100,
            "source": "app",
        }
        line = evidence_lines.attempt_line(
            user_id=user_id, **{k: v for k, v in attempt.items() if k not in ("id",)}
        )
        append(
            {
                **common,
                "kind": "quiz_result",
                "record": f"attempt:{n}",
                "statement_sha256": None,
                "personal_digest": None,
                "evidence": line,
            }
        )
        signed = {
            "id": n,
            "assignment_id": n,
            "user_id": user_id,
            "quiz_attempt_id": n,
            "course_key": key,
            "version_sha256": sha,
            "language": "en",
            "statement_sha256": STATEMENT_SHA256,
            "statement": STATEMENT,
            "score_percent": 100,
            "typed_name": f"Person {person}",
            "signed_at": at,
            "ip": ip,
            "user_agent": agent,
            "cycle": 1 + n // people,
            "person_email": f"p{person}@bench.example",
            "person_name": f"Person {person}",
            "department": "Sales",
        }
        tables[Attestation].append(signed)
        line = evidence_lines.attestation_line(
            key=keys[person],
            **{
                k: v for k, v in signed.items() if k not in ("id", "typed_name", "ip", "user_agent")
            },
        )
        digest = ledger.personal_digest(keys[person], f"Person {person}", ip, agent)
        record = f"attestation:{n}"
        append(
            {
                **common,
                "kind": "attestation",
                "record": record,
                "statement_sha256": STATEMENT_SHA256,
                "personal_digest": digest,
                "evidence": line,
            }
        )
        tables[LedgerPersonal].append(
            {"seq": seq, "typed_name": f"Person {person}", "ip": ip, "user_agent": agent}
        )
        append(
            {
                **common,
                "kind": "completion",
                "record": record,
                "statement_sha256": None,
                "personal_digest": None,
                "evidence": line,
            }
        )
        if n % CHUNK == 0:
            _write(database, tables)
    _write(database, tables)
    return time.perf_counter() - started


STATEMENT_SHA256 = binding.text_digest(STATEMENT)


def _write(database: Database, tables: dict[Any, list[dict[str, Any]]]) -> None:
    with database.transaction() as session:
        for model, rows in tables.items():
            _insert(session, model.__table__, rows)
            rows.clear()


def read_only(database: Database) -> float:
    """The baseline: the same read from the driver the verification does, no hashing."""
    started = time.perf_counter()
    with database.transaction() as session:
        for _ in ledger.entry_rows(session):
            pass
    return time.perf_counter() - started


def chain_only(database: Database) -> float:
    """The chain alone (hashes and links), as `lms ledger verify` did before issue 17."""
    started = time.perf_counter()
    with database.transaction() as session:
        _, _, problem = ledger.verify_chain(session, set())
    if problem is not None:
        raise SystemExit(f"the generated ledger does not verify: {problem}")
    return time.perf_counter() - started


def verify(database: Database) -> tuple[float, int]:
    """What `lms ledger verify` does: the chain and, in the same pass over the entries, every
    record against its entries and back (RecordsCheck); (seconds, entries)."""
    started = time.perf_counter()
    with database.transaction() as session:
        records = RecordsCheck(session)
        try:
            good, _, problem = ledger.verify_chain(session, set(), observe=records.entry)
            mismatch = records.result() if problem is None else None
        finally:
            records.close()
    if problem is not None or mismatch is not None:
        raise SystemExit(f"the generated ledger does not verify: {problem or mismatch}")
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
        chain = min(chain_only(database) for _ in range(2))
        seconds, good = min(verify(database) for _ in range(2))
        records = seconds - chain
        database.dispose()
    dialect = url.split(":", 1)[0].split("+")[0]
    table = "\n".join(
        [
            f"### {time.strftime('%Y-%m-%d')} — ledger verification with records, {good:,} "
            f"entries, {dialect}",
            "",
            f"Machine: {machine()}. Ledger generated in {generated:.0f} s.",
            "",
            "| measure | time | target | ratio to baseline |",
            "| --- | --- | --- | --- |",
            f"| baseline: read every entry, no hashing | {baseline:.2f} s | – | 1× |",
            f"| the chain check alone | {chain:.2f} s | – | {chain / baseline:.1f}× |",
            f"| every record against its entries (the difference) | {records:.2f} s | – | "
            f"{records / baseline:.1f}× |",
            f"| `lms ledger verify`, rows included | {seconds:.2f} s | ≤ 5 s | "
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
