"""The one place that says what time it is, so tests and simulations can move time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

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


def iso_utc(moment: datetime) -> str:
    """The one timestamp format of exports and evidence: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
