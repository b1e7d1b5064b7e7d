"""The admin's form for connecting a Learning Record Store."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, URLField
from wtforms.validators import DataRequired, Length


class LrsForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Name the LRS.")), Length(max=100)])
    url = URLField(
        _l("xAPI endpoint"),
        validators=[DataRequired(_l("Enter the LRS's xAPI address.")), Length(max=500)],
    )
    username = StringField(
        _l("User name (Basic authentication)"),
        validators=[DataRequired(_l("Enter the user name the LRS gave Vern.")), Length(max=200)],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter the password the LRS gave Vern.")), Length(max=200)],
    )
    send_email = BooleanField(
        _l("Name people by email address (only if your LRS may hold addresses)")
    )
