"""Admin page for LTI: Vern's tool URLs, registered platforms, and what went wrong lately
(refused launches, scores the platforms did not take)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from lms import clock
from lms.audit.service import recent_events, record
from lms.errors import mark_rollback
from lms.extensions import db_session, settings
from lms.integrations.lti import keys, platforms
from lms.integrations.lti.forms import PlatformForm
from lms.integrations.lti.scores import KIND
from lms.people import crypto
from lms.people.access import role_required
from lms.people.models import Role
from lms.reminders.models import OutboxMessage
from lms.training.forms import CsrfOnlyForm

bp = Blueprint("lti_admin", __name__, url_prefix="/admin/lti")
RECENT = 20


def _page(form: PlatformForm) -> str:
    session = db_session()
    refused = recent_events(session, "lti.launch_refused", RECENT)
    failed_scores = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == KIND, OutboxMessage.last_error.is_not(None))
        .order_by(OutboxMessage.id.desc())
        .limit(RECENT)
    )
    return render_template(
        "lti/admin.html",
        form=form,
        platforms=platforms.platforms(session),
        has_key=keys.current_key(session) is not None,
        refused=refused,
        failed_scores=list(failed_scores),
        action_form=CsrfOnlyForm(),
    )


@bp.route("/")
@role_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    return _page(PlatformForm())


@bp.route("/platforms", methods=["POST"])
@role_required(Role.ADMIN)
def register() -> ResponseReturnValue:
    form = PlatformForm()
    if form.validate_on_submit():
        details = platforms.PlatformDetails(
            name=form.name.data or "",
            issuer=form.issuer.data or "",
            client_id=form.client_id.data or "",
            deployment_ids=(form.deployment_ids.data or "").splitlines(),
            auth_login_url=form.auth_login_url.data or "",
            auth_token_url=form.auth_token_url.data or "",
            key_set_url=form.key_set_url.data,
            key_set=form.key_set.data,
            provisions_users=bool(form.provisions_users.data),
            department_claim=form.department_claim.data,
            matches_by_email=bool(form.matches_by_email.data),
        )
        try:
            platform = platforms.register(
                db_session(),
                details,
                clock.now(),
                keys=crypto.current_keys(),
                allow_http=not settings().is_production,
                created_by_id=current_user.id,
            )
        except platforms.BadPlatform as bad:
            getattr(form, bad.field).errors.append(_(bad.message, **bad.values))
        else:
            record(
                db_session(),
                action="lti.platform.register",
                now=clock.now(),
                actor_id=current_user.id,
                ip=request.remote_addr,
                platform_id=platform.id,
                issuer=platform.issuer,
                client_id=platform.client_id,
                provisions_users=platform.provisions_users,
                matches_by_email=platform.matches_by_email,
            )
            flash(_("%(name)s is registered.", name=platform.name), "success")
            return redirect(url_for("lti_admin.index"))
    mark_rollback()
    return _page(form), 400


@bp.route("/platforms/<int:platform_id>/email-trust", methods=["POST"])
@role_required(Role.ADMIN)
def set_email_trust(platform_id: int) -> ResponseReturnValue:
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        return _page(PlatformForm()), 400
    trusted = request.form.get("trusted") == "1"
    platform = platforms.set_email_trust(db_session(), platform_id, trusted)
    if platform is None:
        flash(_("There is no such platform."), "error")
        return redirect(url_for("lti_admin.index"))
    record(
        db_session(),
        action="lti.platform.email_trust",
        now=clock.now(),
        actor_id=current_user.id,
        platform_id=platform.id,
        trusted=trusted,
    )
    if trusted:
        message = _("%(name)s may now find people by email.", name=platform.name)
    else:
        message = _("%(name)s no longer finds people by email.", name=platform.name)
    flash(message, "success")
    return redirect(url_for("lti_admin.index"))


@bp.route("/platforms/<int:platform_id>/active", methods=["POST"])
@role_required(Role.ADMIN)
def set_active(platform_id: int) -> ResponseReturnValue:
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        return _page(PlatformForm()), 400
    active = request.form.get("active") == "1"
    platform = platforms.set_active(db_session(), platform_id, active)
    if platform is None:
        flash(_("There is no such platform."), "error")
        return redirect(url_for("lti_admin.index"))
    record(
        db_session(),
        action="lti.platform.activate" if active else "lti.platform.deactivate",
        now=clock.now(),
        actor_id=current_user.id,
        ip=request.remote_addr,
        platform_id=platform.id,
    )
    if active:
        flash(_("%(name)s accepts launches again.", name=platform.name), "success")
    else:
        flash(_("%(name)s no longer launches Vern.", name=platform.name), "success")
    return redirect(url_for("lti_admin.index"))
