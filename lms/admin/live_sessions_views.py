"""HR and admins schedule live sessions, see who signed up and record who came."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from lms import clock
from lms.admin.live_sessions_forms import ScheduleForm
from lms.catalog.service import current_courses
from lms.errors import mark_rollback
from lms.extensions import db_session
from lms.people.access import role_required
from lms.people.models import Role
from lms.training import live_sessions
from lms.training.forms import CsrfOnlyForm
from lms.training.models import LiveSession
from lms.web import whole_number

bp = Blueprint("live_sessions", __name__, url_prefix="/admin/live-sessions")
STAFF = (Role.HR, Role.ADMIN)


def _courses() -> list[tuple[str, str]]:
    locale = str(get_locale())
    return [
        (course.key, version.definition.title.get(locale) or course.key)
        for course, version in current_courses(db_session())
    ]


def _index(form: ScheduleForm, status: int = 200) -> ResponseReturnValue:
    upcoming, past = live_sessions.sessions_overview(db_session(), clock.now())
    return render_template(
        "admin/live_sessions.html", form=form, upcoming=upcoming, past=past
    ), status


@bp.route("/")
@role_required(*STAFF)
def index() -> ResponseReturnValue:
    form = ScheduleForm(formdata=None)
    form.set_courses(_courses())
    return _index(form)


def _utc(local: datetime) -> datetime:
    """A time typed in the scheduler's own time zone, as UTC."""
    return local.replace(tzinfo=ZoneInfo(current_user.timezone)).astimezone(UTC)


@bp.route("/", methods=["POST"])
@role_required(*STAFF)
def schedule() -> ResponseReturnValue:
    form = ScheduleForm()
    form.set_courses(_courses())
    if not form.validate_on_submit():
        mark_rollback()
        return _index(form, 400)
    try:
        live = live_sessions.schedule(
            db_session(),
            course_key=form.course.data or "",
            starts_at=_utc(form.starts_at.data),
            minutes=form.minutes.data or 0,
            place=form.place.data or "",
            instructor=form.instructor.data or "",
            capacity=form.capacity.data or 0,
            actor_id=current_user.id,
            now=clock.now(),
        )
    except live_sessions.LiveSessionRefused as refused:
        getattr(form, refused.field).errors = [_(refused.message)]
        mark_rollback()
        return _index(form, 400)
    flash(_("Scheduled. People with the course open can sign up from My training."), "success")
    return redirect(url_for("live_sessions.detail", live_session_id=live.id))


def _live_or_404(live_session_id: int) -> LiveSession:
    live = db_session().get(LiveSession, live_session_id)
    if live is None:
        abort(404)
    return live


@bp.route("/<int:live_session_id>")
@role_required(*STAFF)
def detail(live_session_id: int) -> ResponseReturnValue:
    live = _live_or_404(live_session_id)
    return render_template(
        "admin/live_session.html",
        live=live,
        seats=live_sessions.seats(db_session(), live),
        started=live.starts_at <= clock.now(),
        form=CsrfOnlyForm(),
    )


@bp.route("/<int:live_session_id>/attendance", methods=["POST"])
@role_required(*STAFF)
def attendance(live_session_id: int) -> ResponseReturnValue:
    live = _live_or_404(live_session_id)
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    attended = {whole_number(value) for value in request.form.getlist("attended")}
    if None in attended:
        abort(400)
    try:
        completed = live_sessions.record_attendance(
            db_session(),
            live,
            {person_id for person_id in attended if person_id is not None},
            actor_id=current_user.id,
            now=clock.now(),
        )
    except live_sessions.LiveSessionRefused as refused:
        flash(_(refused.message), "error")
        return redirect(url_for("live_sessions.detail", live_session_id=live.id))
    flash(
        _("Attendance recorded; %(num)s courses completed.", num=completed),
        "success",
    )
    return redirect(url_for("live_sessions.detail", live_session_id=live.id))


@bp.route("/<int:live_session_id>/cancel", methods=["POST"])
@role_required(*STAFF)
def cancel(live_session_id: int) -> ResponseReturnValue:
    live = _live_or_404(live_session_id)
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    try:
        live_sessions.cancel_session(db_session(), live, actor_id=current_user.id, now=clock.now())
    except live_sessions.LiveSessionRefused as refused:
        flash(_(refused.message), "error")
        return redirect(url_for("live_sessions.detail", live_session_id=live.id))
    flash(_("Cancelled."), "success")
    return redirect(url_for("live_sessions.index"))
