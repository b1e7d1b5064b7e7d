"""Forms for looking after people by hand."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from lms.admin.people_admin import GRANTABLE
from lms.i18n import LANGUAGE_NAMES
from lms.people.forms import COMMON_TIMEZONES


class PersonForm(FlaskForm):
    department = SelectField(_l("Department"), default="")
    manager_email = EmailField(_l("Manager (email)"), validators=[Optional(), Length(max=254)])
    start_date = DateField(_l("Start date"), validators=[Optional()])
    locale = SelectField(
        _l("Language"), choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()]
    )
    roles = SelectMultipleField(
        _l("Roles"),
        choices=[SelectChoice(str(role), str(role)) for role in GRANTABLE],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )

    def set_departments(self, departments: list[tuple[str, str]]) -> None:
        self.department.choices = [SelectChoice("", _l("No department"))] + [
            SelectChoice(key, name) for key, name in departments
        ]


class AddPersonForm(FlaskForm):
    full_name = StringField(
        _l("Full name"),
        validators=[DataRequired(_l("Enter the person's full name.")), Length(max=200)],
    )
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter the person's work email address.")), Length(max=254)],
    )
    department = SelectField(_l("Department"), default="")
    manager_email = EmailField(_l("Manager (email)"), validators=[Optional(), Length(max=254)])
    start_date = DateField(_l("Start date"), validators=[Optional()])
    locale = SelectField(
        _l("Language"), choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()]
    )
    timezone = SelectField(
        _l("Time zone"), choices=[SelectChoice(tz, tz) for tz in COMMON_TIMEZONES]
    )

    def set_departments(self, departments: list[tuple[str, str]]) -> None:
        self.department.choices = [SelectChoice("", _l("No department"))] + [
            SelectChoice(key, name) for key, name in departments
        ]


class DeactivateForm(FlaskForm):
    reassign_to = EmailField(
        _l("Their reports move to (email)"), validators=[Optional(), Length(max=254)]
    )


class EraseForm(FlaskForm):
    confirm = BooleanField(
        _l("I understand this cannot be undone"),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class ExemptionForm(FlaskForm):
    course = SelectField(_l("Course"), choices=[], validators=[DataRequired()])
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Say why, e.g. which certificate covers the course.")),
            Length(max=500),
        ],
    )
    expires_on = DateField(_l("Ends on (optional)"), validators=[Optional()])

    def set_courses(self, courses: list[tuple[int, str]]) -> None:
        self.course.choices = [SelectChoice(str(i), title) for i, title in courses]
