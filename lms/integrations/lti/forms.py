"""The admin's form for registering a platform."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Length, Optional


class PlatformForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("Name the platform.")), Length(max=100)]
    )
    issuer = URLField(
        _l("Issuer"), validators=[DataRequired(_l("Enter the platform's issuer.")), Length(max=300)]
    )
    client_id = StringField(
        _l("Client ID"),
        validators=[
            DataRequired(_l("Enter the client ID the platform gave Vern.")),
            Length(max=200),
        ],
    )
    deployment_ids = TextAreaField(
        _l("Deployment IDs, one a line"),
        validators=[DataRequired(_l("Enter at least one deployment ID."))],
    )
    auth_login_url = URLField(
        _l("Authorisation (OIDC auth) URL"),
        validators=[DataRequired(_l("Enter the platform's authorisation URL.")), Length(max=500)],
    )
    auth_token_url = URLField(
        _l("Access token URL"),
        validators=[DataRequired(_l("Enter the platform's token URL.")), Length(max=500)],
    )
    key_set_url = URLField(_l("Public keyset (JWKS) URL"), validators=[Optional(), Length(max=500)])
    key_set = TextAreaField(_l("…or its public keys (JWKS JSON)"), validators=[Optional()])
    provisions_users = BooleanField(_l("Create people Vern does not know yet (trusted platform)"))
    matches_by_email = BooleanField(
        _l("Find people's Vern accounts by the email address the platform sends (trusted platform)")
    )
    department_claim = StringField(
        _l("Custom parameter naming the department"), validators=[Optional(), Length(max=100)]
    )
