"""Admin pages for the mail machinery: outbox status, dead messages, job runs, run a sweep,
the settings in force and a test mail; and the manager's nudge."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from lms import clock
from lms.audit.service import record
from lms.catalog.definition import ReminderPolicy
from lms.catalog.service import current_courses
from lms.clock import iso_utc
from lms.evidence import checkpoints, keys, ledger
from lms.extensions import db_session, local_path, settings
from lms.people.access import role_required
from lms.people.models import Role, User
from lms.reminders import outbox
from lms.reminders.jobs import JOBS, sweep_in
from lms.reminders.models import JobState
from lms.reminders.service import NotOverdue, enqueue_nudge, enqueue_test_mail
from lms.reports.access import person_in_scope
from lms.training.forms import CsrfOnlyForm
from lms.training.models import Assignment

bp = Blueprint("reminders", __name__)
log = logging.getLogger(__name__)


@bp.route("/admin/outbox")
@role_required(Role.ADMIN)
def outbox_status() -> ResponseReturnValue:
    session = db_session()
    states = {s.job: s for s in session.scalars(select(JobState))}
    return render_template(
        "reminders/outbox.html",
        summary=outbox.summary(session),
        jobs=[(job, states.get(job)) for job in JOBS],
        form=CsrfOnlyForm(),
    )


@bp.route("/admin/outbox/sweep", methods=["POST"])
@role_required(Role.ADMIN)
def sweep_now() -> ResponseReturnValue:
    form = CsrfOnlyForm()
    if form.validate_on_submit():
        report = sweep_in(db_session(), settings(), clock.now())
        flash(
            _(
                "Sweep done: %(cycles)s assignment changes, %(queued)s messages queued.",
                cycles=report.cycles.total(),
                queued=report.reminders,
            ),
            "success",
        )
    return redirect(url_for("reminders.outbox_status"))


@bp.route("/admin/outbox/<int:message_id>/retry", methods=["POST"])
@role_required(Role.ADMIN)
def retry(message_id: int) -> ResponseReturnValue:
    form = CsrfOnlyForm()
    if form.validate_on_submit():
        if outbox.retry_dead(db_session(), message_id, clock.now()):
            flash(_("The message will be sent again on the next run."), "success")
        else:
            flash(_("That message is not dead, so there is nothing to retry."), "error")
    return redirect(url_for("reminders.outbox_status"))


@bp.route("/team/nudge/<int:assignment_id>", methods=["POST"], endpoint="nudge")
@login_required
def nudge(assignment_id: int) -> ResponseReturnValue:
    """A manager's one-click reminder to someone overdue in their reporting line."""
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    session = db_session()
    viewer: User = current_user._get_current_object()
    assignment = session.get(Assignment, assignment_id)
    person = (
        person_in_scope(session, viewer, assignment.user_id, organisation=False)
        if assignment is not None
        else None
    )
    if assignment is None or person is None:
        abort(404)
    try:
        sent = enqueue_nudge(
            session, assignment, viewer, clock.now(), domain=settings().mail_domain
        )
    except NotOverdue:
        flash(_("Only overdue training can be nudged."), "error")
    else:
        if sent:
            record(
                session,
                action="nudge",
                now=clock.now(),
                actor_id=viewer.id,
                subject_user_id=person.id,
                ip=request.remote_addr,
                assignment_id=assignment.id,
            )
            flash(_("%(name)s will get a reminder from you.", name=person.full_name), "success")
        else:
            flash(_("You already nudged %(name)s today.", name=person.full_name), "info")
    return redirect(local_path(request.referrer) or url_for("reports.team"))


def _ladder_steps(policy: ReminderPolicy) -> list[str]:
    """A ladder in the words the settings page uses."""
    steps = [
        ngettext(
            "%(num)s day before the due date: a reminder to the employee.",
            "%(num)s days before the due date: a reminder to the employee.",
            days,
        )
        for days in sorted(policy.before_days, reverse=True)
    ]
    if policy.on_due_day:
        steps.append(_("On the due date: a reminder to the employee."))
    steps.append(
        ngettext(
            "%(num)s day after: a reminder with the manager in copy.",
            "%(num)s days after: a reminder with the manager in copy.",
            policy.copy_manager_after,
        )
    )
    steps.append(
        ngettext(
            "%(num)s day after, then every %(every)s days: an escalation to the manager and HR.",
            "%(num)s days after, then every %(every)s days: an escalation to the manager and HR.",
            policy.escalate_after,
            every=policy.escalate_every,
        )
    )
    steps.append(
        ngettext(
            "From %(num)s day after: escalations also go to the manager's manager.",
            "From %(num)s days after: escalations also go to the manager's manager.",
            policy.skip_level_after,
        )
    )
    return steps


def _digest_day(weekday: str) -> str:
    """The localised weekday name for LMS_DIGEST_WEEKDAY (mon…sun)."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if weekday not in days:
        return weekday  # a cron expression such as "mon-fri": shown as written
    first_monday = date(2024, 1, 1)
    return format_date(first_monday + timedelta(days=days.index(weekday)), "EEEE")


@bp.route("/admin/settings")
@role_required(Role.ADMIN)
def settings_page() -> ResponseReturnValue:
    session = db_session()
    default = ReminderPolicy()
    own_ladders = [
        (version.definition, _ladder_steps(version.definition.reminders))
        for _course, version in current_courses(session)
        if version.definition.reminders != default
    ]
    public_key = _public_key()
    return render_template(
        "reminders/settings.html",
        config=settings(),
        ledger_entries=ledger.head(session)[0],
        checkpoint=checkpoints.latest(session),
        public_key=keys.public_pem(public_key) if public_key else None,
        key_id=keys.key_id(public_key) if public_key else None,
        default_steps=_ladder_steps(default),
        own_ladders=own_ladders,
        digest_day=_digest_day(settings().digest_weekday),
        form=CsrfOnlyForm(),
    )


def _public_key() -> Ed25519PublicKey | None:
    try:
        return keys.load_private_key(settings().ledger_key).public_key()
    except keys.LedgerKeyError:
        return None


@bp.route("/admin/settings/test-mail", methods=["POST"])
@role_required(Role.ADMIN)
def send_test_mail() -> ResponseReturnValue:
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    session = db_session()
    admin: User = current_user._get_current_object()
    now = clock.now()
    enqueue_test_mail(session, admin, now, domain=settings().mail_domain)
    record(session, action="mail.test", now=now, actor_id=admin.id, ip=request.remote_addr)
    flash(
        _(
            "A test mail to %(email)s is in the outbox; it goes out within %(seconds)s "
            "seconds. Its result shows under Mail and jobs.",
            email=admin.email,
            seconds=settings().send_seconds,
        ),
        "success",
    )
    return redirect(url_for("reminders.settings_page"))


SCHEDULER_STALE_AFTER = timedelta(minutes=5)  # the send job starts every minute


def _scheduler_status(age_seconds: float | None) -> str:
    if age_seconds is None:
        return "never"
    return "ok" if age_seconds <= SCHEDULER_STALE_AFTER.total_seconds() else "stale"


@bp.route("/healthz")
def healthz() -> ResponseReturnValue:
    """For the load balancer: 503 when the database cannot be reached (take this web process
    out); the scheduler's last heartbeat is reported, but a stale one keeps the web up."""
    try:
        # max() keeps the column's type: an aware UTC datetime on both databases.
        last = db_session().scalar(select(func.max(JobState.last_started_at)))
    except SQLAlchemyError:
        log.exception("health check: the database cannot be reached")
        down = {"status": "down", "database": "unreachable", "scheduler": None}
        return jsonify(down), 503, {"Cache-Control": "no-store"}
    age = (clock.now() - last).total_seconds() if last else None
    scheduler = _scheduler_status(age)
    body: dict[str, Any] = {
        "status": "ok" if scheduler == "ok" else "degraded",
        "database": "ok",
        "scheduler": {
            "status": scheduler,
            "last_run_at": iso_utc(last) if last else None,
            "age_seconds": round(age) if age is not None else None,
        },
    }
    return jsonify(body), 200, {"Cache-Control": "no-store"}
