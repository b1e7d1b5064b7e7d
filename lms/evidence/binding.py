"""What binds an evidence record (a signature, a quiz result, an attendance, an exemption) to
its ledger entry: the entry's `evidence` field, a line naming every field the record shows.

The line is `name=value;name=value…` in a fixed order per kind of record. Values are numbers,
ISO 8601 UTC times, `true`/`false`, or — for free text and structured answers — the sha256 of
the text, so no value holds `;` or `=` and the line names the field that differs when a record
no longer matches its entry. Personal fields never appear in clear: they are covered by the
entry's keyed `personal_digest`, or here by an HMAC under the person's digest key, so erasing
the key leaves nothing to test a guess against (docs/evidence.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

PAIR = ";"
EQUALS = "="
# Personal fields in a line: their value is an HMAC under the person's key, so after erasure
# (key destroyed, fields emptied) they are the one part of a line that can no longer match.
PERSONAL_PREFIX = "personal_"


@lru_cache(maxsize=65_536)
def text_digest(value: str | None) -> str:
    """sha256 of free text (a statement, a reason, a place); empty for none. Remembered: the
    same statements, courses and departments come back on every row of a verification."""
    return "" if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()


def json_digest(value: Any) -> str:
    """sha256 of a structured value in canonical JSON (sorted keys, no spaces)."""
    if value is None:
        return ""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text_digest(canonical)


def keyed_digest(key_hex: str | None, *values: str | None) -> str:
    """HMAC-SHA256 of personal values under the person's digest key; empty once erased."""
    if key_hex is None:
        return ""
    joined = "\x1f".join("" if value is None else value for value in values)
    return hmac.new(bytes.fromhex(key_hex), joined.encode("utf-8"), hashlib.sha256).hexdigest()


def value_text(value: object) -> str:
    """One value as the line spells it: the same on SQLite and PostgreSQL."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def line(pairs: Sequence[tuple[str, object]]) -> str:
    """The evidence line of a record from its (field, value) pairs, in order."""
    parts = []
    for name, value in pairs:
        # Numbers are the commonest values, and cannot hold a separator: no check needed.
        text = str(value) if type(value) is int else value_text(value)
        if type(value) is not int and (PAIR in text or EQUALS in text or "\x1f" in text):
            raise ValueError(f"evidence field {name} must be digested, not written in clear")
        parts.append(f"{name}{EQUALS}{text}")
    return PAIR.join(parts)


def fields_of(evidence: str) -> dict[str, str]:
    """A line back into its fields."""
    return dict(part.partition(EQUALS)[::2] for part in evidence.split(PAIR) if part)


@dataclass(frozen=True)
class Mismatch:
    """Where a record and what its entry says part: the table, the row and the field."""

    table: str
    row_id: int | str
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.table} {self.row_id}" + (f", field {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


def first_difference(recorded: str, current: str, *, erased: bool) -> str | None:
    """The first field whose value differs between the entry's line and the record's now, or
    None if they agree. Once a person is erased their personal fields may differ, as long as
    the record's are empty (erasure empties them; `current` then carries an empty digest)."""
    if recorded == current:
        return None
    then, now = fields_of(recorded), fields_of(current)
    for name in [*then, *(n for n in now if n not in then)]:
        if then.get(name) == now.get(name):
            continue
        if erased and name.startswith(PERSONAL_PREFIX) and now.get(name) == "":
            continue
        return name
    return None
