"""Forms for scheduling live sessions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange


class ScheduleForm(FlaskForm):
    course = SelectField(_l("Course"), choices=[], validators=[DataRequired()])
    starts_at = DateTimeLocalField(
        _l("Starts (your time zone)"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(_l("Give a date and time."))],
    )
    minutes = IntegerField(
        _l("Length in minutes"), default=60, validators=[InputRequired(), NumberRange(15, 480)]
    )
    place = StringField(
        _l("Where (a room, or a meeting link)"), validators=[DataRequired(), Length(max=300)]
    )
    instructor = StringField(_l("Instructor"), validators=[DataRequired(), Length(max=200)])
    capacity = IntegerField(
        _l("Seats"), default=20, validators=[InputRequired(), NumberRange(1, 500)]
    )

    def set_courses(self, courses: list[tuple[str, str]]) -> None:
        self.course.choices = [SelectChoice(key, title) for key, title in courses]
