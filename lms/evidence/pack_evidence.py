"""Checking a person's pack offline: does `evidence.json` say what the pack's ledger entries
say, and does every entry have its record in it?

Each record in `evidence.json` names its entry (`ledger_record`, e.g. `attestation:5`). Its
fields are compared with the entry's own columns and its evidence line (lms.evidence.binding);
the name typed is compared with the personal fields `ledger.json` carries for the person, whose
HMAC under the person's digest key (also in `ledger.json`) must be the entry's
`personal_digest`. Times in `evidence.json` are to the second, so they are compared so."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from lms.evidence import binding
from lms.evidence.ledger import personal_digest

EVIDENCE = "evidence.json"

Check = tuple[str, Callable[[Any], str | None], str]


def _second(at: Any) -> str | None:
    """An entry's or line's time to the second, as evidence.json writes times."""
    if not isinstance(at, str) or len(at) < 19:
        return None
    return at[:19] + "Z"


def _text(value: Any) -> str | None:
    return binding.text_digest(value) if isinstance(value, str) else None


def _plain(value: Any) -> str:
    return binding.value_text(value)


class _Checker:
    def __init__(self, evidence: dict[str, Any], ledger_doc: dict[str, Any]) -> None:
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in ledger_doc.get("entries") or []:
            self.entries[(str(entry.get("kind")), str(entry.get("record")))] = entry
        personal = ledger_doc.get("personal") or {}
        self.key: str | None = personal.get("digest_key")
        self.personal: dict[str, dict[str, Any]] = personal.get("fields") or {}
        self.evidence = evidence
        self.used: set[tuple[str, str]] = set()
        self.problems: list[str] = []

    def entry(self, kind: str, where: str, item: dict[str, Any]) -> dict[str, Any] | None:
        record = item.get("ledger_record")
        entry = self.entries.get((kind, str(record)))
        if entry is None:
            self.problems.append(f"{EVIDENCE}: {where} has no {kind} entry in the ledger")
            return None
        self.used.add((kind, str(record)))
        return entry

    def compare(
        self,
        where: str,
        item: dict[str, Any],
        entry: dict[str, Any],
        columns: dict[str, str | None],
        fields: dict[str, str | None],
    ) -> None:
        """`columns`: the item's field → the entry's column (times to the second); `fields`:
        the item's field → its value as the entry's evidence line spells it."""
        for name, column in columns.items():
            if column is None:
                continue
            recorded = entry.get(column)
            value = item.get(name)
            if column == "at":
                recorded = _second(recorded)
            if recorded != value:
                self.differs(where, name, entry)
                return
        line = entry.get("evidence")
        if not isinstance(line, str):
            return  # an entry from before 0024: its columns are all it holds
        recorded_fields = binding.fields_of(line)
        for name, value in fields.items():
            line_name = name.split(":")[-1]
            recorded = recorded_fields.get(line_name)
            if line_name.endswith(("_at", "starts_at")) and recorded is not None:
                recorded = _second(recorded)
            if recorded != value:
                self.differs(where, name.split(":")[0], entry)
                return

    def differs(self, where: str, name: str, entry: dict[str, Any]) -> None:
        self.problems.append(
            f"{EVIDENCE}: {where}.{name} differs from ledger entry {entry.get('seq')}"
        )

    def typed_name(self, where: str, item: dict[str, Any], entry: dict[str, Any]) -> None:
        digest = entry.get("personal_digest")
        if digest is None:
            return
        kept = self.personal.get(str(entry.get("seq")))
        if kept is None or self.key is None:
            if item.get("typed_name"):  # erased people's packs carry neither
                self.differs(where, "typed_name", entry)
            return
        values = [kept.get("typed_name"), kept.get("ip"), kept.get("user_agent")]
        if personal_digest(self.key, *values) != digest or values[0] != item.get("typed_name"):
            self.differs(where, "typed_name", entry)

    def attempt(self, where: str, item: dict[str, Any]) -> None:
        entry = self.entry("quiz_result", where, item)
        if entry is None:
            return
        self.compare(
            where,
            item,
            entry,
            {"score_percent": "score", "submitted_at": "at"},
            {
                "number": _plain(item.get("number")),
                "passed": _plain(item.get("passed")),
                "score_percent": _plain(item.get("score_percent")),
            },
        )

    def attestation(self, where: str, item: dict[str, Any], cycle: Any) -> None:
        for kind in ("attestation", "completion"):
            entry = self.entry(kind, where, item)
            if entry is None:
                continue
            self.compare(
                where,
                item,
                entry,
                {
                    "score_percent": "score",
                    "signed_at": "at",
                    "language": "language",
                    "version_sha256": "version_sha256",
                    "statement_sha256": "statement_sha256" if kind == "attestation" else None,
                },
                {
                    "statement": _text(item.get("statement")),
                    "statement_sha256": item.get("statement_sha256"),
                    "cycle:cycle": _plain(cycle),
                },
            )
            if kind == "attestation":
                self.typed_name(where, item, entry)

    def live_session(self, where: str, item: dict[str, Any]) -> None:
        entry = self.entry("completion", where, item)
        if entry is None:
            return
        self.compare(
            where,
            item,
            entry,
            {"attended_at": "at"},
            {
                "starts_at": item.get("starts_at"),
                "place": _text(item.get("place")),
                "instructor": _text(item.get("instructor")),
            },
        )

    def exemption(self, where: str, item: dict[str, Any]) -> None:
        entry = self.entry("exemption", where, item)
        if entry is not None:
            self.compare(
                where,
                item,
                entry,
                {"granted_at": "at"},
                {
                    "reason": _text(item.get("reason")),
                    "expires_on": _plain(item.get("expires_on")),
                },
            )
        end = self.entries.get(("exemption_end", str(item.get("ledger_record"))))
        if end is None:
            if item.get("ended_at") is not None:
                self.problems.append(f"{EVIDENCE}: {where}.ended_at has no entry in the ledger")
            return
        self.used.add(("exemption_end", str(item.get("ledger_record"))))
        self.compare(
            where,
            item,
            end,
            {"ended_at": "at"},
            {"ended_because:end_reason": _plain(item.get("ended_because"))},
        )

    def run(self) -> list[str]:
        courses = self.evidence.get("courses")
        if not isinstance(courses, list):
            return [f"{EVIDENCE} holds no courses"]
        for i, course in enumerate(courses):
            where = f"courses[{i}]"
            for j, attempt in enumerate(course.get("attempts") or []):
                if attempt.get("submitted_at") is not None:
                    self.attempt(f"{where}.attempts[{j}]", attempt)
            if course.get("attestation") is not None:
                self.attestation(f"{where}.attestation", course["attestation"], course.get("cycle"))
            if course.get("live_session") is not None:
                self.live_session(f"{where}.live_session", course["live_session"])
            for k, exemption in enumerate(course.get("exemptions") or []):
                self.exemption(f"{where}.exemptions[{k}]", exemption)
        for (kind, record), entry in sorted(
            self.entries.items(), key=lambda item: int(item[1].get("seq") or 0)
        ):
            if (kind, record) not in self.used:
                self.problems.append(
                    f"ledger.json: entry {entry.get('seq')} ({kind} {record}) has no record "
                    f"in {EVIDENCE}"
                )
        return self.problems


def evidence_problems(evidence: bytes, ledger_doc: dict[str, Any]) -> list[str]:
    """Every place where evidence.json and the pack's ledger entries disagree, both ways."""
    try:
        document = json.loads(evidence)
    except ValueError as error:
        return [f"{EVIDENCE} cannot be read: {error}"]
    if not isinstance(document, dict):
        return [f"{EVIDENCE} is not an object"]
    return _Checker(document, ledger_doc).run()


# The completions CSV's columns an entry holds (the rest, people's names and addresses, are
# personal: the organisation's pack carries no one's digest key).
CSV_COLUMNS = {
    "course": "course_key",
    "version_sha256": "version_sha256",
    "score_percent": "score",
    "language": "language",
    "statement_sha256": "statement_sha256",
    "ledger_hash": "hash",
}


def completions_problems(name: str, data: bytes, ledger_doc: dict[str, Any]) -> list[str]:
    """Every signature in the organisation's completions CSV against the entry it names
    (`ledger_seq`), and every entry in ledger.json against a line of the CSV."""
    entries = {str(e.get("seq")): e for e in ledger_doc.get("entries") or []}
    problems: list[str] = []
    used: set[str] = set()
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as error:
        return [f"{name} cannot be read: {error}"]
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        seq = row.get("ledger_seq") or ""
        if not seq:
            continue  # signed before the ledger began: no entry to check it against
        entry = entries.get(seq)
        if entry is None:
            problems.append(f"{name} line {number}: ledger entry {seq} is not in ledger.json")
            continue
        used.add(seq)
        field = _csv_difference(row, entry)
        if field is not None:
            problems.append(f"{name} line {number}: {field} differs from ledger entry {seq}")
    for seq, entry in entries.items():
        if seq not in used and entry.get("kind") == "attestation":
            problems.append(f"ledger.json: entry {seq} has no line in {name}")
    return problems


def _csv_difference(row: dict[str, str], entry: dict[str, Any]) -> str | None:
    if entry.get("kind") != "attestation":
        return "ledger_seq"
    for column, field in CSV_COLUMNS.items():
        if row.get(column) != _plain(entry.get(field)):
            return column
    if row.get("signed_at_utc") != _second(entry.get("at")):
        return "signed_at_utc"
    line = entry.get("evidence")
    if isinstance(line, str) and binding.fields_of(line).get("cycle") != row.get("cycle"):
        return "cycle"
    return None
