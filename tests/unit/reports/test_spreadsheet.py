"""Every CSV export quotes every field and keeps spreadsheets from running a cell."""

from __future__ import annotations

import csv
import io
import re

import pytest

from lms.reports import spreadsheet

# A record whose every field is quoted (and whose quotes inside fields are doubled).
QUOTED_RECORD = re.compile(r'^"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*$')


def assert_every_field_quoted(text: str) -> None:
    """Helper for export tests: each CRLF record of `text` quotes all of its fields."""
    assert text.endswith("\r\n")
    for record in text.removesuffix("\r\n").split("\r\n"):
        assert QUOTED_RECORD.match(record), record


def test_a_semicolon_stays_inside_its_quoted_cell() -> None:
    """A Norwegian Excel splits unquoted cells on `;`: every field is quoted, even plain ones."""
    text = spreadsheet.line(["Kari; Nordmann", "kari@example.test", 7, None])
    assert text == '"Kari; Nordmann","kari@example.test","7",""\r\n'
    assert_every_field_quoted(text)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_formula_start_in_any_cell_becomes_text(start: str) -> None:
    text = spreadsheet.line(["ok", f"{start}cmd|' /C calc'!A0"])
    cells = next(csv.reader(io.StringIO(text, newline="")))
    assert cells == ["ok", f"'{start}cmd|' /C calc'!A0"]


def test_quotes_inside_a_cell_are_doubled() -> None:
    text = spreadsheet.line(['say "hi"'])
    assert text == '"say ""hi"""\r\n'
    assert next(csv.reader(io.StringIO(text))) == ['say "hi"']
