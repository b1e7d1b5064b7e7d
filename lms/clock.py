"""The one place that says what time it is, so tests and simulations can move time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """Current time as an aware UTC datetime."""
    if _source is not None:
        return _source().astimezone(UTC)
    return datetime.now(UTC)


def set_source(source: Callable[[], datetime] | None) -> None:
    """Replace the time source (None restores the real clock)."""
    global _source
    _source = source


def file_source(path: Path) -> Callable[[], datetime]:
    """A clock read from a file holding an ISO 8601 time, shared by every process that reads
    it: simulations of many processes move time for all of them at once (testing only)."""
    cache: dict[str, Any] = {"mtime": None, "value": None}

    def read() -> datetime:
        mtime = path.stat().st_mtime_ns
        if mtime != cache["mtime"]:
            cache["value"] = datetime.fromisoformat(path.read_text(encoding="ascii").strip())
            cache["mtime"] = mtime
        value: datetime = cache["value"]
        return value

    return read


def iso_utc(moment: datetime) -> str:
    """The one timestamp format of exports and evidence: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
