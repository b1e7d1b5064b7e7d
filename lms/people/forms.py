"""Login and preference forms."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField
from wtforms.validators import DataRequired, Email, Length

from lms.i18n import LANGUAGE_NAMES

COMMON_TIMEZONES = sorted(
    tz for tz in available_timezones() if tz.startswith(("Europe/", "America/", "Asia/", "UTC"))
)


class LoginForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter your email address.")),
            Email(_l("Enter a valid email address.")),
            Length(max=254),
        ],
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)]
    )


class PreferencesForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=list(LANGUAGE_NAMES.items()))
    timezone = SelectField(_l("Time zone"), choices=[(tz, tz) for tz in COMMON_TIMEZONES])
