"""Locale and timezone choice for Flask-Babel, and lazy strings shared by forms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from flask import request
from flask_babel import format_date, to_user_timezone
from flask_login import current_user

from lms.extensions import settings

LANGUAGE_NAMES = {"en": "English", "nb": "Norsk bokmål"}


def select_locale() -> str | None:
    """The signed-in person's language, else the browser's best match."""
    if current_user and current_user.is_authenticated:
        locale: str = current_user.locale
        return locale
    return request.accept_languages.best_match(settings().languages) or settings().default_locale


def select_timezone() -> str | None:
    if current_user and current_user.is_authenticated:
        timezone: str = current_user.timezone
        return timezone
    return settings().default_timezone


def day_formatter(style: str = "medium") -> Callable[[date | datetime], str]:
    """Flask-Babel's date format for pages that show hundreds of dates: each distinct day is
    formatted once (a datetime is first moved into the reader's timezone, as the filter does)."""
    formatted: dict[date, str] = {}

    def format_day(value: date | datetime) -> str:
        day = to_user_timezone(value).date() if isinstance(value, datetime) else value
        text = formatted.get(day)
        if text is None:
            text = formatted[day] = format_date(day, style)
        return text

    return format_day
