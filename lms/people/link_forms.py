"""Forms for sign-in links and password resets."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from lms.people.passwords import MIN_PASSWORD_LENGTH, PasswordProblem, password_problem
from lms.people.service import email_problem


def _an_address(_form: FlaskForm, field: Field) -> None:
    # Syntax only, the same for everyone: whether anybody has the address is never said.
    if field.data and email_problem(field.data):
        raise ValidationError(_("Enter an email address like name@example.com."))


def _password_rules(_form: FlaskForm, field: Field) -> None:
    problem = password_problem(field.data or "")
    if problem is PasswordProblem.TOO_SHORT:
        raise ValidationError(
            _(
                "Use at least %(num)s characters. A few words in a row are easy to remember.",
                num=MIN_PASSWORD_LENGTH,
            )
        )
    if problem is PasswordProblem.TOO_COMMON:
        raise ValidationError(_("This is one of the most common passwords. Choose another."))


class EmailLinkForm(FlaskForm):
    """Ask for a sign-in link or a password reset link."""

    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254), _an_address],
    )


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password.")), Length(max=200), _password_rules],
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Enter the new password again.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
    )
