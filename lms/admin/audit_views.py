"""Admins page through and export the audit trail."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from lms import clock
from lms.admin import audit_queries as queries
from lms.admin.audit_forms import AuditFilterForm
from lms.audit.service import record
from lms.extensions import db_session, streamed
from lms.people.access import role_required
from lms.people.models import Role

bp = Blueprint("audit", __name__, url_prefix="/admin")
PAGE_SIZE = 50


def _filters(form: AuditFilterForm) -> queries.AuditFilter:
    return queries.AuditFilter(
        action=form.action.data or None,
        actor_email=form.actor.data or None,
        subject_email=form.subject.data or None,
        start=form.start.data,
        end=form.end.data,
    )


@bp.route("/audit")
@role_required(Role.ADMIN)
def trail() -> ResponseReturnValue:
    form = AuditFilterForm(request.args)
    valid = form.validate()
    filters = _filters(form) if valid else queries.AuditFilter()
    page = form.page.data if valid and form.page.data else 1
    lines, total = queries.page(db_session(), filters, page=page, size=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:  # past the end (an old link, a shorter filter): show the last page
        page = pages
        lines, total = queries.page(db_session(), filters, page=page, size=PAGE_SIZE)
    return render_template(
        "audit/trail.html",
        form=form,
        lines=lines,
        total=total,
        page=page,
        pages=pages,
        actions=queries.actions(db_session()),
    ), (200 if valid else 400)


@bp.route("/audit.csv")
@role_required(Role.ADMIN)
def export() -> ResponseReturnValue:
    form = AuditFilterForm(request.args)
    if not form.validate():
        errors = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return Response(
            _("Invalid filter: %(errors)s", errors=errors) + "\n", status=400, mimetype="text/plain"
        )
    # Reading the trail of everyone is itself an access worth recording.
    record(
        db_session(),
        action="export.audit_csv",
        now=clock.now(),
        actor_id=current_user.id,
        ip=request.remote_addr,
    )
    filters = _filters(form)
    return Response(
        streamed(lambda session: queries.export_csv(session, filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit.csv"},
    )
