"""Marking messages that services raise for the page to translate (no Flask here)."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - pybabel's keyword for "translate later"
    """Mark a message for extraction; the view shows it through Flask-Babel's gettext."""
    return message
