"""HR's page to import people from a CSV file: upload, preview with problems, apply."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from lms import clock
from lms.admin import people_import as importer
from lms.admin.people_import_forms import MAX_UPLOAD_BYTES, ApplyForm, UploadForm
from lms.audit.service import record
from lms.db import give_way
from lms.errors import mark_rollback
from lms.extensions import db_session, settings
from lms.people.access import role_required
from lms.people.models import Role
from lms.people.service import PeopleError
from lms.reminders import invitations

bp = Blueprint("people_import", __name__, url_prefix="/admin/people")
IMPORTERS = (Role.HR, Role.ADMIN)
log = logging.getLogger(__name__)


def reason(problem: importer.Problem) -> str:
    """A problem's message in the viewer's language."""
    return _(problem.message, **problem.params)


def _page(
    upload: UploadForm,
    preview: importer.ImportPreview | None = None,
    text: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The import page; a clean preview with changes carries the text on to the Apply button."""
    ready = preview is not None and preview.ok and bool(preview.changed()) and bool(text)
    # formdata=None: filled from `text`, not from the upload that is being answered.
    confirm = ApplyForm(formdata=None, csv_text=text) if ready else None
    return render_template(
        "admin/people_import.html",
        form=upload,
        preview=preview,
        confirm=confirm,
        reason=reason,
        max_kb=MAX_UPLOAD_BYTES // 1024,
    ), status


def _problem_preview(problem: importer.Problem) -> importer.ImportPreview:
    return importer.ImportPreview(rows=(), problems=(problem,), new_departments=())


@bp.route("/import", methods=["GET", "POST"])
@role_required(*IMPORTERS)
def upload() -> ResponseReturnValue:
    form = UploadForm()
    if not form.validate_on_submit():
        if form.is_submitted():
            mark_rollback()
        return _page(form, status=400 if form.is_submitted() else 200)
    try:
        text = importer.decode(form.file.data.read())
    except importer.NotUtf8 as error:
        return _page(form, _problem_preview(error.problem))
    session = db_session()
    by_admin = current_user.has_role(Role.ADMIN)
    preview = importer.preview(session, importer.parse(text), clock.now(), by_admin=by_admin)
    # The preview shows other people's current details, which is a read worth recording.
    record(
        session,
        action="view.people_import_preview",
        now=clock.now(),
        actor_id=current_user.id,
        ip=request.remote_addr,
        rows=len(preview.rows),
        problems=len(preview.problems),
    )
    return _page(form, preview, text)


@bp.route("/import/apply", methods=["POST"])
@role_required(*IMPORTERS)
def apply() -> ResponseReturnValue:
    form = ApplyForm()
    if not form.validate_on_submit():
        flash(_("Nothing was imported: upload the file again."), "error")
        return redirect(url_for("people_import.upload"))
    session = db_session()
    now = clock.now()
    actor_id, by_admin = current_user.id, current_user.has_role(Role.ADMIN)
    plan = importer.parse(form.csv_text.data or "")
    try:
        run = importer.begin(session, plan, by_admin=by_admin)
    except importer.ImportRejected:
        # Vern changed since the preview (someone took an email, say): show what is wrong now.
        mark_rollback()
        return _page(
            UploadForm(), importer.preview(session, plan, now, by_admin=by_admin), status=409
        )
    try:
        for _batch in importer.batches(
            session,
            run,
            now,
            actor_id,
            default_timezone=settings().default_timezone,
            preboarding_days=settings().preboarding_days,
        ):
            session.commit()  # a batch at a time, so sign-ins are not kept waiting
            give_way(session)
    except (SQLAlchemyError, PeopleError) as error:
        log.exception("people import stopped after line %s", run.line)
        session.rollback()
        importer.record_stopped(session, run, error, clock.now(), actor_id)
        flash(
            _(
                "The import stopped after line %(line)s (%(done)s of %(steps)s steps done). "
                "What came before is saved; import the same file again to finish.",
                line=run.line,
                done=run.done,
                steps=run.steps,
            ),
            "error",
        )
        return redirect(url_for("people_import.upload"))
    result = run.result
    # Whoever is due an invitation gets it now rather than at the next sweep.
    invitations.invite_due(
        session,
        now,
        days_before_start=settings().invite_days_before_start,
        domain=settings().mail_domain,
    )
    counts = result.counts
    flash(
        _(
            "Import done: %(created)s created, %(updated)s updated, %(deactivated)s "
            "deactivated, %(reactivated)s reactivated, %(unchanged)s unchanged.",
            created=counts[importer.Action.CREATE],
            updated=counts[importer.Action.UPDATE],
            deactivated=counts[importer.Action.DEACTIVATE],
            reactivated=counts[importer.Action.REACTIVATE],
            unchanged=counts[importer.Action.UNCHANGED],
        ),
        "success",
    )
    return redirect(url_for("people_import.upload"))
