"""The departments page for admins."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from lms import clock
from lms.admin import departments as service
from lms.errors import mark_rollback
from lms.extensions import db_session
from lms.people.access import role_required
from lms.people.models import Department, Role
from lms.training.cycles import reconcile_audiences
from lms.training.forms import CsrfOnlyForm
from lms.web import whole_number

bp = Blueprint("departments", __name__, url_prefix="/admin/departments")


def _department(department_id: int) -> Department:
    department = db_session().get(Department, department_id)
    if department is None:
        abort(404)
    return department


def _page(error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "admin/departments.html",
        lines=service.departments(db_session()),
        form=CsrfOnlyForm(),
        error=error,
    ), status


def _reason(error: service.DepartmentError) -> str:
    reasons = {
        "bad_key": _(
            "Use lower-case letters, digits and hyphens for the key, and not the "
            "words 'all' or 'managers'."
        ),
        "key_taken": _("A department with that key exists already."),
        "no_name": _("Give the department a name."),
        "bad_target": _("Choose another department, one that is not archived, to merge into."),
        "not_empty": _(
            "%(count)s people are still in it: move them or merge it first.", count=error.people
        ),
    }
    return reasons[error.reason]


def _form(fields: MultiDict[str, str], name: str) -> str:
    return (fields.get(name) or "").strip()[:200]


@bp.route("/")
@role_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    return _page()


def _act(action: str, department_id: int | None = None) -> ResponseReturnValue:
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    session, now, actor = db_session(), clock.now(), current_user.id
    try:
        if action == "create":
            service.create(
                session,
                _form(request.form, "key"),
                _form(request.form, "name"),
                actor_id=actor,
                now=now,
            )
            message = _("Department created.")
        elif action == "rename" and department_id is not None:
            service.rename(
                session,
                _department(department_id),
                _form(request.form, "name"),
                actor_id=actor,
                now=now,
            )
            message = _("Department renamed.")
        elif action == "merge" and department_id is not None:
            target_id = whole_number(_form(request.form, "target"))
            target = _department(target_id) if target_id is not None else None
            if target is None:
                raise service.DepartmentError("bad_target")
            moved = service.merge(
                session, _department(department_id), target, actor_id=actor, now=now
            )
            reconcile_audiences(session, now)
            message = _("Merged: %(count)s people moved.", count=moved)
        elif action == "archive" and department_id is not None:
            service.archive(session, _department(department_id), actor_id=actor, now=now)
            message = _("Department archived.")
        else:
            abort(404)
    except service.DepartmentError as error:
        mark_rollback()
        return _page(_reason(error), 400)
    flash(message, "success")
    return redirect(url_for("departments.index"))


@bp.route("/", methods=["POST"])
@role_required(Role.ADMIN)
def create() -> ResponseReturnValue:
    return _act("create")


@bp.route("/<int:department_id>/<any(rename, merge, archive):action>", methods=["POST"])
@role_required(Role.ADMIN)
def change(department_id: int, action: str) -> ResponseReturnValue:
    return _act(action, department_id)
