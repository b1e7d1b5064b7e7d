"""Forms of the employee path; the quiz's answers are parsed by the service, not by WTForms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from lms.people.forms import CsrfOnlyForm as CsrfOnlyForm  # where the pages above take it


class AttestationForm(FlaskForm):
    statement_sha256 = HiddenField()
    agree = BooleanField(
        _l("I have read the statement above and agree to follow it"),
        validators=[DataRequired(_l("Tick the box to confirm the statement."))],
    )
    typed_name = StringField(
        _l("Your full name"),
        validators=[DataRequired(_l("Type your full name to sign.")), Length(max=200)],
    )
