"""Login and preference forms."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField
from wtforms.validators import DataRequired, Length, Optional

from lms.i18n import LANGUAGE_NAMES

COMMON_TIMEZONES = sorted(
    tz for tz in available_timezones() if tz.startswith(("Europe/", "America/", "Asia/", "UTC"))
)


class CsrfOnlyForm(FlaskForm):
    """A button that changes something (start a quiz, sign in from a link, switch a provider
    off) still needs CSRF."""


class LoginForm(FlaskForm):
    # No format check here: an unknown or malformed address gets the same answer as a wrong
    # password, so the form tells nobody which accounts exist.
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254)],
    )
    # Optional here: an address in a single sign-on domain goes to its provider without one
    # (home-realm discovery); the view asks for it otherwise.
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=200)])


class PreferencesForm(FlaskForm):
    locale = SelectField(
        _l("Language"), choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()]
    )
    timezone = SelectField(
        _l("Time zone"), choices=[SelectChoice(tz, tz) for tz in COMMON_TIMEZONES]
    )
    digest_opt_in = BooleanField(
        _l("Send me one weekly digest about my team instead of single reminder copies")
    )
