"""Admin page for machine access: API tokens and webhook endpoints (secrets shown once)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from lms import clock
from lms.audit.service import record
from lms.errors import mark_rollback
from lms.extensions import db_session, settings
from lms.integrations import tokens, webhooks
from lms.integrations.forms import TokenForm, WebhookForm
from lms.people import crypto
from lms.people.access import role_required
from lms.people.models import Role
from lms.training.forms import CsrfOnlyForm

bp = Blueprint("integrations", __name__, url_prefix="/admin/integrations")


def _page(token_form: TokenForm, webhook_form: WebhookForm, **shown: object) -> str:
    session = db_session()
    return render_template(
        "integrations/index.html",
        tokens=tokens.tokens(session),
        endpoints=webhooks.overview(session),
        token_form=token_form,
        webhook_form=webhook_form,
        action_form=CsrfOnlyForm(),
        **shown,
    )


def _audit(action: str, **detail: Any) -> None:
    record(
        db_session(),
        action=action,
        now=clock.now(),
        actor_id=current_user.id,
        ip=request.remote_addr,
        **detail,
    )


@bp.route("/")
@role_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    return _page(TokenForm(prefix="token"), WebhookForm(prefix="webhook"))


@bp.route("/tokens", methods=["POST"])
@role_required(Role.ADMIN)
def create_token() -> ResponseReturnValue:
    form = TokenForm(prefix="token")
    if not form.validate_on_submit():
        mark_rollback()
        return _page(form, WebhookForm(prefix="webhook")), 400
    token, raw = tokens.create_token(
        db_session(),
        name=form.name.data or "",
        scope=tokens.Scope(form.scope.data),
        now=clock.now(),
        created_by_id=current_user.id,
    )
    _audit("token.create", token_id=token.id, scope=token.scope, name=token.name)
    # Rendered, not flashed: a flash would carry the secret in the session cookie.
    return _page(
        TokenForm(prefix="token", formdata=None),
        WebhookForm(prefix="webhook"),
        new_token=raw,
        new_token_name=token.name,
    )


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@role_required(Role.ADMIN)
def revoke_token(token_id: int) -> ResponseReturnValue:
    if CsrfOnlyForm().validate_on_submit() and tokens.revoke(db_session(), token_id, clock.now()):
        _audit("token.revoke", token_id=token_id)
        flash(_("The token is revoked; calls with it are refused from now on."), "success")
    return redirect(url_for("integrations.index"))


@bp.route("/webhooks", methods=["POST"])
@role_required(Role.ADMIN)
def add_webhook() -> ResponseReturnValue:
    form = WebhookForm(prefix="webhook")
    if not form.validate_on_submit():
        mark_rollback()
        return _page(TokenForm(prefix="token"), form), 400
    try:
        endpoint, secret = webhooks.register(
            db_session(),
            url=form.url.data or "",
            events=list(form.events.data or []),
            now=clock.now(),
            keys=crypto.current_keys(),
            allow_http=not settings().outbound_https_only,
            created_by_id=current_user.id,
        )
    except webhooks.BadEndpoint:
        form.url.errors.append(_("The URL must start with https://."))
        mark_rollback()
        return _page(TokenForm(prefix="token"), form), 400
    _audit("webhook.add", endpoint_id=endpoint.id, url=endpoint.url, events=endpoint.events)
    return _page(
        TokenForm(prefix="token"),
        WebhookForm(prefix="webhook", formdata=None),
        new_secret=secret,
        new_secret_url=endpoint.url,
    )


@bp.route("/webhooks/<int:endpoint_id>/remove", methods=["POST"])
@role_required(Role.ADMIN)
def remove_webhook(endpoint_id: int) -> ResponseReturnValue:
    if CsrfOnlyForm().validate_on_submit() and webhooks.remove(db_session(), endpoint_id):
        _audit("webhook.remove", endpoint_id=endpoint_id)
        flash(_("The webhook is removed; its delivery log stays."), "success")
    return redirect(url_for("integrations.index"))
