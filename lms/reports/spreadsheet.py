"""CSV the way every Vern export writes it: every field quoted, and no cell a spreadsheet runs.

Excel splits unquoted cells on the list separator of the reader's locale (`;` in Norway), so a
`;` in a name would move the following cells; and a cell starting with one of FORMULA_STARTS is
run as a formula (OWASP "CSV injection"). Every CSV export goes through this module: `line` in
Python, `sql_line` when the database builds the lines of a large export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, literal

# What a spreadsheet takes for the start of a formula (OWASP lists tab and carriage return too).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """One cell's text, with an apostrophe before a formula start so it stays text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def line(cells: Iterable[object]) -> str:
    """One CSV record (CRLF-terminated) with every field quoted and neutralised."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerow([cell(value) for value in cells])
    return buffer.getvalue()


def sql_text(column: Any) -> ColumnElement[str]:
    """A free-text column as one quoted, neutralised CSV field, built by the database."""
    value = func.coalesce(cast(column, String), "", type_=String)
    guarded = case(
        (func.substr(value, 1, 1).in_(FORMULA_STARTS), literal("'", String) + value),
        else_=value,
    )
    return literal('"', String) + func.replace(guarded, '"', '""', type_=String) + '"'


def sql_plain(column: Any) -> ColumnElement[str]:
    """A column that cannot start with a formula or hold a quote (non-negative numbers, hex
    digests, validated keys and times) as a quoted field: quoting it costs the database
    almost nothing, guarding it would cost a comparison per row for nothing."""
    value = func.coalesce(cast(column, String), "", type_=String)
    return literal('"', String) + value + '"'


def sql_line(*cells: ColumnElement[str]) -> ColumnElement[str]:
    """The fields of one record joined by commas (without the line end)."""
    joined = cells[0]
    for field in cells[1:]:
        joined = joined + "," + field
    return joined
