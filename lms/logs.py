"""Log records that are safe to keep (ASVS 7.1.1, 7.3.1).

Every record, from any logger and whatever handler writes it, is made safe when it is
created: line breaks and other control characters in the message are escaped, so input
cannot forge extra log lines, and anything shaped like a credential (a Vern API token, a
bearer header, a password or token field) is replaced by a marker. Tracebacks are kept as
they are: they are ours, not the user's."""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
_SECRETS = (
    re.compile(r"vern_[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:password|passwd|secret|token|session)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]+"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\n]")


def safe_text(text: str) -> str:
    """The text with credentials replaced and control characters escaped."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def install_safe_log_records() -> None:
    """Make every later log record safe; calling it again changes nothing."""
    current = logging.getLogRecordFactory()
    if getattr(current, "lms_safe", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: keep what there is
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = safe_text(message), None
        return record

    factory.lms_safe = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
