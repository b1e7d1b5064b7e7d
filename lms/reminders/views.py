"""Admin page for the mail machinery: outbox status, dead messages, job runs, run a sweep."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from lms import clock
from lms.extensions import db_session, settings
from lms.people.access import role_required
from lms.people.models import Role
from lms.reminders import outbox
from lms.reminders.jobs import JOBS, sweep_in
from lms.reminders.models import JobState
from lms.training.forms import CsrfOnlyForm

bp = Blueprint("reminders", __name__, url_prefix="/admin")


@bp.route("/outbox")
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


@bp.route("/outbox/sweep", methods=["POST"])
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


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@role_required(Role.ADMIN)
def retry(message_id: int) -> ResponseReturnValue:
    form = CsrfOnlyForm()
    if form.validate_on_submit():
        if outbox.retry_dead(db_session(), message_id, clock.now()):
            flash(_("The message will be sent again on the next run."), "success")
        else:
            flash(_("That message is not dead, so there is nothing to retry."), "error")
    return redirect(url_for("reminders.outbox_status"))
