"""Admin page *Sign-in*: the identity providers people sign in with, and what to enter on
the provider's side."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from lms import clock
from lms.audit.service import recent_events, record
from lms.errors import mark_rollback
from lms.extensions import db_session, end_transaction, settings
from lms.people.access import role_required
from lms.people.forms import CsrfOnlyForm
from lms.people.models import Role
from lms.people.outbound import Policy
from lms.people.sso import oidc, service
from lms.people.sso.forms import ProviderForm
from lms.people.sso.models import IdentityProvider

bp = Blueprint("sso_admin", __name__, url_prefix="/admin/sign-in")
RECENT = 20


def _page(form: ProviderForm) -> str:
    session = db_session()
    refused = recent_events(session, "sso.refused", RECENT)
    return render_template(
        "sso/admin.html",
        form=form,
        providers=service.providers(session),
        refused=refused,
        action_form=CsrfOnlyForm(),
    )


@bp.route("/")
@role_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    return _page(ProviderForm())


def details_from(form: ProviderForm) -> service.ProviderDetails:
    """The form's values as the service takes them."""
    return service.ProviderDetails(
        name=form.name.data or "",
        display_name=form.display_name.data or "",
        discovery_url=form.discovery_url.data or "",
        client_id=form.client_id.data or "",
        client_secret=form.client_secret.data or "",
        domains=(form.domains.data or "").replace(",", "\n").splitlines(),
        passwords_off=bool(form.passwords_off.data),
        create_people=bool(form.create_people.data),
        department_claim=form.department_claim.data,
    )


@bp.route("/providers", methods=["POST"])
@role_required(Role.ADMIN)
def register() -> ResponseReturnValue:
    form = ProviderForm()
    if not form.validate_on_submit():
        mark_rollback()
        return _page(form), 400
    db = db_session()
    details = details_from(form)
    try:
        service.validate(db, details)
    except service.BadProvider as bad:
        getattr(form, bad.field).errors.append(_(bad.message, **bad.values))
        mark_rollback()
        return _page(form), 400
    # Nothing written yet: end the transaction before asking the provider anything.
    end_transaction()
    try:
        discovery, key_set = oidc.fetch_metadata(
            details.discovery_url, policy=Policy.from_settings(settings())
        )
    except oidc.ProviderUnavailable as failure:
        current_app.logger.warning("discovery of %s failed: %s", details.name, failure.cause)
        form.discovery_url.errors.append(
            _("Vern could not read an OpenID Connect discovery document and keys there.")
        )
        mark_rollback()
        return _page(form), 400
    try:
        provider = service.register(
            db,
            details,
            discovery=discovery,
            key_set=key_set,
            secret_key=str(current_app.secret_key),
            now=clock.now(),
            created_by_id=current_user.id,
        )
    except service.BadProvider as bad:  # someone registered the same name meanwhile
        getattr(form, bad.field).errors.append(_(bad.message, **bad.values))
        mark_rollback()
        return _page(form), 400
    _audit("sso.provider.register", provider)
    flash(_("%(name)s is registered.", name=provider.display_name), "success")
    return redirect(url_for("sso_admin.index"))


def _audit(action: str, provider: IdentityProvider) -> None:
    record(
        db_session(),
        action=action,
        now=clock.now(),
        actor_id=current_user.id,
        ip=request.remote_addr,
        **service.audit_detail(provider),
    )


def _provider_or_back(provider_id: int) -> IdentityProvider | None:
    provider = db_session().get(IdentityProvider, provider_id)
    if provider is None:
        flash(_("There is no such provider."), "error")
    return provider


@bp.route("/providers/<int:provider_id>/active", methods=["POST"])
@role_required(Role.ADMIN)
def set_active(provider_id: int) -> ResponseReturnValue:
    if not CsrfOnlyForm().validate_on_submit():
        return _page(ProviderForm()), 400
    provider = _provider_or_back(provider_id)
    if provider is not None:
        service.set_active(db_session(), provider, request.form.get("active") == "1")
        _audit("sso.provider.activate" if provider.active else "sso.provider.deactivate", provider)
    return redirect(url_for("sso_admin.index"))


@bp.route("/providers/<int:provider_id>/passwords", methods=["POST"])
@role_required(Role.ADMIN)
def set_passwords(provider_id: int) -> ResponseReturnValue:
    if not CsrfOnlyForm().validate_on_submit():
        return _page(ProviderForm()), 400
    provider = _provider_or_back(provider_id)
    if provider is not None:
        service.set_passwords_off(db_session(), provider, request.form.get("off") == "1")
        _audit("sso.provider.passwords", provider)
    return redirect(url_for("sso_admin.index"))


@bp.route("/providers/<int:provider_id>/remove", methods=["POST"])
@role_required(Role.ADMIN)
def remove(provider_id: int) -> ResponseReturnValue:
    if not CsrfOnlyForm().validate_on_submit():
        return _page(ProviderForm()), 400
    provider = _provider_or_back(provider_id)
    if provider is not None:
        _audit("sso.provider.remove", provider)
        service.remove(db_session(), provider)
        flash(_("%(name)s is removed.", name=provider.display_name), "success")
    return redirect(url_for("sso_admin.index"))
