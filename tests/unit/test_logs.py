"""Log lines cannot be forged and hold no credentials (ASVS 7.1.1, 7.3.1)."""

from __future__ import annotations

import logging

import pytest

from lms.logs import install_safe_log_records, safe_text


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("user typed\nFAKE 200 OK line", "user typed\\nFAKE 200 OK line"),
        ("carriage\rreturn and bell\x07", "carriage\\rreturn and bell\\x07"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
        ("used vern_AbCdEfGhIjKlMnOp for the call", "used [redacted] for the call"),
        ("password=hunter2&next=/", "password=[redacted]&next=/"),
        ('{"token": "s3cr3t"}', '{"token": "[redacted]"}'),
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_safe_text_escapes_line_breaks_and_redacts_credentials(raw: str, kept: str) -> None:
    assert safe_text(raw) == kept


def test_records_from_any_logger_are_made_safe(caplog: pytest.LogCaptureFixture) -> None:
    install_safe_log_records()
    install_safe_log_records()  # twice is the same as once
    with caplog.at_level(logging.INFO):
        logging.getLogger("somewhere.else").info("name %s", "Eve\n2026-01-01 INFO admin ok")
    assert caplog.records[-1].getMessage() == "name Eve\\n2026-01-01 INFO admin ok"
