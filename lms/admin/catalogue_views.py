"""Admins see the catalogue and apply a sync from courses/ after seeing what it changes."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from lms import clock
from lms.admin import catalogue
from lms.audit.service import record
from lms.catalog.loader import CourseFileError, load_catalog
from lms.extensions import db_session, settings
from lms.people.access import role_required
from lms.people.models import Role
from lms.training.forms import CsrfOnlyForm

bp = Blueprint("catalogue", __name__, url_prefix="/admin/catalogue")


@bp.route("/")
@role_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    session = db_session()
    problems, plan = [], None
    try:
        plan = catalogue.plan_sync(session, load_catalog(settings().courses_path))
    except CourseFileError as error:
        problems = [str(p) for p in error.problems]
    return render_template(
        "admin/catalogue.html",
        courses=catalogue.overview(session),
        plan=plan,
        problems=problems,
        form=CsrfOnlyForm(),
    )


@bp.route("/sync", methods=["POST"])
@role_required(Role.ADMIN)
def sync() -> ResponseReturnValue:
    if not CsrfOnlyForm().validate_on_submit():
        return redirect(url_for("catalogue.index"))
    try:
        definitions = load_catalog(settings().courses_path)
    except CourseFileError:
        flash(_("The course files have problems; nothing was changed."), "error")
        return redirect(url_for("catalogue.index"))
    session = db_session()
    outcome = catalogue.apply_sync(
        session, definitions, clock.now(), preboarding_days=settings().preboarding_days
    )
    record(
        session,
        action="catalogue.sync",
        now=clock.now(),
        actor_id=current_user.id,
        ip=request.remote_addr,
        new_courses=outcome.report.new_courses,
        new_versions=outcome.report.new_versions,
        assigned=outcome.assigned,
        moved=outcome.moved,
    )
    flash(
        _(
            "Courses synced: %(courses)s new, %(versions)s new versions, %(assigned)s new "
            "assignments.",
            courses=len(outcome.report.new_courses),
            versions=len(outcome.report.new_versions),
            assigned=outcome.assigned,
        ),
        "success",
    )
    return redirect(url_for("catalogue.index"))
