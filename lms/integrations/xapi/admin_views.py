"""Admin page for xAPI: connected Learning Record Stores and statements they did not take."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from lms import clock
from lms.audit.service import record
from lms.errors import mark_rollback
from lms.extensions import db_session, settings
from lms.integrations.xapi import service
from lms.integrations.xapi.forms import LrsForm
from lms.people import crypto
from lms.people.access import role_required
from lms.people.models import Role
from lms.reminders.models import OutboxMessage
from lms.training.forms import CsrfOnlyForm

bp = Blueprint("xapi_admin", __name__, url_prefix="/admin/xapi")
RECENT = 20


def _page(form: LrsForm) -> str:
    session = db_session()
    failed = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == service.KIND, OutboxMessage.last_error.is_not(None))
        .order_by(OutboxMessage.id.desc())
        .limit(RECENT)
    )
    return render_template(
        "xapi/admin.html",
        form=form,
        stores=service.endpoints(session),
        failed=list(failed),
        action_form=CsrfOnlyForm(),
    )


@bp.route("/")
@role_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    return _page(LrsForm())


@bp.route("/stores", methods=["POST"])
@role_required(Role.ADMIN)
def connect() -> ResponseReturnValue:
    form = LrsForm()
    if form.validate_on_submit():
        try:
            store = service.register(
                db_session(),
                name=form.name.data or "",
                url=form.url.data or "",
                username=form.username.data or "",
                password=form.password.data or "",
                send_email=bool(form.send_email.data),
                now=clock.now(),
                keys=crypto.current_keys(),
                allow_http=not settings().is_production,
                created_by_id=current_user.id,
            )
        except service.BadLrs as bad:
            getattr(form, bad.field).errors.append(_(bad.message))
        else:
            record(
                db_session(),
                action="xapi.lrs.connect",
                now=clock.now(),
                actor_id=current_user.id,
                ip=request.remote_addr,
                lrs_id=store.id,
                url=store.url,
                send_email=store.send_email,
            )
            flash(_("%(name)s will receive statements from now on.", name=store.name), "success")
            return redirect(url_for("xapi_admin.index"))
    mark_rollback()
    return _page(form), 400


@bp.route("/stores/<int:store_id>/active", methods=["POST"])
@role_required(Role.ADMIN)
def set_active(store_id: int) -> ResponseReturnValue:
    if not CsrfOnlyForm().validate_on_submit():
        return _page(LrsForm()), 400
    active = request.form.get("active") == "1"
    store = service.set_active(db_session(), store_id, active, clock.now())
    if store is None:
        flash(_("There is no such LRS."), "error")
        return redirect(url_for("xapi_admin.index"))
    record(
        db_session(),
        action="xapi.lrs.activate" if active else "xapi.lrs.deactivate",
        now=clock.now(),
        actor_id=current_user.id,
        ip=request.remote_addr,
        lrs_id=store.id,
    )
    if active:
        flash(_("%(name)s receives statements again.", name=store.name), "success")
    else:
        flash(_("%(name)s receives no more statements.", name=store.name), "success")
    return redirect(url_for("xapi_admin.index"))
