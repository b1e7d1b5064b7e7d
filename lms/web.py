"""WSGI plumbing around the Flask app: page views that read side by side on SQLite, and
whole numbers read from what a client sends (URLs, query strings, form fields)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.routing import IntegerConverter, Map

from lms.db import SQLITE_BEGIN, lost_write_race

RETRY_HEADER = "X-Vern-Retry-With-Write-Lock"
READ_METHODS = ("GET", "HEAD")
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# The largest offset or count a query takes (SQLite INTEGER, PostgreSQL BIGINT); a larger
# number handed to a query is an OverflowError, not an empty answer.
INT64_MAX = 2**63 - 1
# The largest id: ids are INTEGER columns, 32 bits on PostgreSQL ("integer out of range" for
# anything larger, where SQLite would just find nobody).
ID_MAX = 2**31 - 1


def whole_number(raw: str | None, *, low: int = 0, high: int = ID_MAX) -> int | None:
    """`raw` as a whole number in [low, high] (by default: one that can be an id) if it is
    written in ASCII digits, else None. str.isdigit() also accepts "²" (which int() refuses)
    and int() accepts "٣" and numbers of any size: client input goes through here, never
    through isdigit() and int()."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high)):
        return None
    value = int(raw)
    return value if low <= value <= high else None


class IdConverter(IntegerConverter):
    """`<int:...>` in a route: ASCII digits up to ID_MAX, anything else is a 404."""

    regex = r"[0-9]{1,10}"

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = ID_MAX,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


class ReadsSideBySide:
    """GET and HEAD begin their SQLite transaction DEFERRED, so page views do not queue for
    the write lock one behind the other. A view that then writes (an audit event, say) and
    finds that someone else wrote first is answered with an internal 503 carrying
    RETRY_HEADER (see lms.errors); this runs it once more, taking the write lock up front.
    Nothing of the first run was committed, and nothing of its reply was sent. On PostgreSQL
    the setting is never read and no view ever asks for a retry."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in READ_METHODS:
            return self.app(environ, start_response)
        wants_retry = False

        def hold_back_a_retry(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            nonlocal wants_retry
            if status.startswith("503") and any(name == RETRY_HEADER for name, _ in headers):
                wants_retry = True
                return lambda _data: None
            return start_response(status, headers, *args)

        token = SQLITE_BEGIN.set("DEFERRED")
        try:
            result = self.app(environ, hold_back_a_retry)
            if not wants_retry:
                return result
            getattr(result, "close", lambda: None)()
        except Exception as error:
            if not lost_write_race(error):  # propagated, as Flask does when testing
                raise
        finally:
            SQLITE_BEGIN.reset(token)
        return self.app(environ, start_response)
