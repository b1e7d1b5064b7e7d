"""The admin's forms for identity providers."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Length, Optional


class ProviderForm(FlaskForm):
    name = StringField(
        _l("Short name (in addresses and commands)"),
        validators=[DataRequired(_l("Enter a short name, e.g. contoso.")), Length(max=64)],
    )
    display_name = StringField(
        _l("Name on the sign-in button"),
        validators=[DataRequired(_l("Enter the name people know it by.")), Length(max=100)],
    )
    discovery_url = URLField(
        _l("Discovery URL (…/.well-known/openid-configuration)"),
        validators=[DataRequired(_l("Enter the provider's discovery URL.")), Length(max=500)],
    )
    client_id = StringField(
        _l("Client ID"),
        validators=[
            DataRequired(_l("Enter the client ID the provider gave Vern.")),
            Length(max=255),
        ],
    )
    # A PasswordField never writes its value back into the page: the secret is shown never.
    client_secret = PasswordField(
        _l("Client secret"),
        validators=[
            DataRequired(_l("Enter the client secret the provider gave Vern.")),
            Length(max=500),
        ],
    )
    domains = TextAreaField(
        _l("Mail domains, one a line"),
        validators=[DataRequired(_l("Enter at least one mail domain.")), Length(max=4000)],
    )
    passwords_off = BooleanField(_l("Switch passwords off for these domains"))
    create_people = BooleanField(_l("Create people Vern does not know yet (trusted provider)"))
    department_claim = StringField(
        _l("Claim naming the department of a created person"),
        validators=[Optional(), Length(max=100)],
    )
