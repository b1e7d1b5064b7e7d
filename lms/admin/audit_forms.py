"""The audit trail's filter form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import NumberRange, Optional, ValidationError

from lms.reports.forms import QueryForm


class AuditFilterForm(QueryForm):
    action = StringField(_l("Action"), validators=[Optional()])
    actor = StringField(_l("Who (email)"), validators=[Optional()])
    subject = StringField(_l("About whom (email)"), validators=[Optional()])
    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])
    # Bounded so that the offset it becomes stays a number the database can hold.
    page = IntegerField(default=1, validators=[Optional(), NumberRange(min=1, max=10**9)])

    def validate_end(self, field: DateField) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The end date comes before the start date."))
