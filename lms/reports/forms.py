"""Filter forms for the dashboards (GET, so no CSRF); invalid values get a message."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectChoice, SelectField
from wtforms.validators import NumberRange, Optional, ValidationError

from lms import clock
from lms.reports.queries import Line, Status

STATUS_LABELS = {
    Status.COMPLETE: _l("Complete"),
    Status.EXEMPT: _l("Exempt"),
    Status.DUE_SOON: _l("Due soon"),
    Status.OVERDUE: _l("Overdue"),
    Status.OPEN: _l("Not due yet"),
}


class QueryForm(FlaskForm):
    """A GET form: no CSRF token, but Flask-WTF's translated messages (en, nb)."""

    class Meta:
        csrf = False


class TeamFilterForm(QueryForm):
    course = SelectField(_l("Course"), choices=[], default="")
    status = SelectField(_l("Status"), default="")
    line = SelectField(_l("Reporting line"), default=str(Line.ALL))

    def __init__(self, formdata: object, courses: list[tuple[str, str]]) -> None:
        """`courses`: (key, title in the reader's language) for the course filter."""
        super().__init__(formdata)
        self.course.choices = [SelectChoice("", _l("All courses"))] + [
            SelectChoice(key, title) for key, title in courses
        ]
        self.status.choices = [SelectChoice("", _l("Any status"))] + [
            SelectChoice(str(s), label) for s, label in STATUS_LABELS.items()
        ]
        self.line.choices = [
            SelectChoice(str(Line.ALL), _l("Direct and indirect")),
            SelectChoice(str(Line.DIRECT), _l("Direct reports")),
            SelectChoice(str(Line.INDIRECT), _l("Indirect reports")),
        ]


class OnboardingForm(QueryForm):
    days = IntegerField(
        _l("Started within (days)"),
        default=90,
        validators=[Optional(), NumberRange(1, 3650, _l("Choose between 1 and 3650 days."))],
    )


class AsOfForm(QueryForm):
    day = DateField(_l("As of"), validators=[Optional()])

    def validate_day(self, field: DateField) -> None:
        if field.data and field.data > clock.now().date():
            raise ValidationError(_l("Choose a day that is not in the future."))


class RangeForm(QueryForm):
    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])

    def validate_end(self, field: DateField) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The end date comes before the start date."))
