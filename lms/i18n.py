"""Locale and timezone choice for Flask-Babel, and lazy strings shared by forms."""

from __future__ import annotations

from flask import request
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
