"""Forms of the integrations admin page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, SelectMultipleField, StringField, URLField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from lms.integrations.tokens import Scope
from lms.integrations.webhooks import EVENTS


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Name the system that will use the token.")), Length(max=100)],
    )
    scope = SelectField(
        _l("Scope"),
        choices=[SelectChoice(s.value, s.value) for s in Scope],
        default=Scope.EVIDENCE.value,
    )


class WebhookForm(FlaskForm):
    url = URLField(
        _l("URL"), validators=[DataRequired(_l("Enter the receiver's URL.")), Length(max=500)]
    )
    events = SelectMultipleField(
        _l("Events"),
        choices=[SelectChoice(event, event) for event in EVENTS],
        default=list(EVENTS),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )

    def validate_url(self, field: URLField) -> None:
        if not (field.data or "").startswith(("https://", "http://")):
            raise ValidationError(_l("The URL must start with https://."))

    def validate_events(self, field: SelectMultipleField) -> None:
        if not field.data:
            raise ValidationError(_l("Choose at least one event."))
