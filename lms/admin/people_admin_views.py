"""Admin and HR pages to find people and change them (roles: admins only)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from lms import clock
from lms.admin import people_admin
from lms.admin.people_admin_forms import (
    AddPersonForm,
    DeactivateForm,
    EraseForm,
    ExemptionForm,
    PersonForm,
)
from lms.audit.service import record
from lms.errors import mark_rollback
from lms.extensions import db_session, settings, write_after_outcome
from lms.people.access import role_required
from lms.people.models import Department, Role, User
from lms.people.service import DuplicateEmail, LastActiveAdmin, ReportingCycle, email_problem
from lms.privacy import erasure
from lms.reminders import invitations
from lms.training import exemptions
from lms.training.cycles import assign_courses
from lms.training.forms import CsrfOnlyForm
from lms.training.models import Exemption
from lms.web import whole_number

bp = Blueprint("people_admin", __name__, url_prefix="/admin/people")
STAFF = (Role.HR, Role.ADMIN)


def _departments() -> list[Department]:
    return list(db_session().scalars(select(Department).order_by(Department.name)))


@bp.route("/")
@role_required(*STAFF)
def people() -> ResponseReturnValue:
    status = request.args.get("status", "active")
    query = people_admin.PeopleQuery(
        text=request.args.get("q", "")[:200],
        department=request.args.get("department", ""),
        status=status if status in ("active", "inactive", "all") else "active",
    )
    # A page that is no number, or beyond any list (whose offset no database column would
    # hold), is the first page: an old or mangled link.
    page = whole_number(request.args.get("page"), low=1, high=10**9) or 1
    found, total = people_admin.search(db_session(), query, page)
    return render_template(
        "admin/people.html",
        people=found,
        total=total,
        query=query,
        page=page,
        pages=max(1, -(-total // people_admin.PAGE_SIZE)),
        departments=_departments(),
        never_signed_in=invitations.count_never_signed_in(db_session()),
        invite_form=CsrfOnlyForm(),
    )


@bp.route("/invite-never-signed-in", methods=["POST"])
@role_required(*STAFF)
def invite_never_signed_in() -> ResponseReturnValue:
    """One more invitation for every active person who has never signed in."""
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    queued = invitations.invite_never_signed_in(
        db_session(), clock.now(), domain=settings().mail_domain, actor_id=current_user.id
    )
    flash(
        ngettext(
            "%(num)s invitation queued.",
            "%(num)s invitations queued.",
            queued,
        )
        if queued
        else _("Everyone active has signed in already; no invitations were queued."),
        "success",
    )
    return redirect(url_for("people_admin.people"))


def _add_form() -> AddPersonForm:
    form = AddPersonForm(
        data=None
        if request.method == "POST"
        else {"locale": settings().default_locale, "timezone": settings().default_timezone}
    )
    form.set_departments([(d.key, d.name) for d in _departments() if d.archived_at is None])
    return form


def _add_page(form: AddPersonForm, status: int = 200) -> ResponseReturnValue:
    if status != 200:
        mark_rollback()
    return render_template("admin/person_new.html", form=form), status


def _new_person(form: AddPersonForm) -> people_admin.NewPerson | None:
    """The form's person, or None with the error put at its field."""
    session = db_session()
    email = (form.email.data or "").strip()
    if email_problem(email):
        form.email.errors = [_("Enter a valid email address, like name@example.com.")]
        return None
    manager = None
    if form.manager_email.data:
        manager = people_admin.active_person_by_email(session, form.manager_email.data)
        if manager is None:
            form.manager_email.errors = [_("Nobody active in Vern has that email.")]
            return None
    return people_admin.NewPerson(
        email=email,
        full_name=form.full_name.data or "",
        department=session.scalar(select(Department).where(Department.key == form.department.data)),
        manager=manager,
        start_date=form.start_date.data,
        locale=form.locale.data or settings().default_locale,
        timezone=form.timezone.data or settings().default_timezone,
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required(*STAFF)
def add() -> ResponseReturnValue:
    """Add one person by hand (the CSV import and SCIM add many)."""
    form = _add_form()
    if request.method == "GET":
        return _add_page(form)
    if not form.validate_on_submit():
        return _add_page(form, 400)
    new = _new_person(form)
    if new is None:
        return _add_page(form, 400)
    try:
        person = people_admin.add_person(
            db_session(),
            new,
            actor_id=current_user.id,
            now=clock.now(),
            preboarding_days=settings().preboarding_days,
            invite_days_before_start=settings().invite_days_before_start,
            mail_domain=settings().mail_domain,
        )
    except DuplicateEmail:
        form.email.errors = [_("Someone in Vern already has this email address.")]
        return _add_page(form, 400)
    flash(_added_message(person), "success")
    return redirect(url_for("people_admin.person", user_id=person.id))


def _added_message(person: User) -> str:
    if person.invited_at is not None:
        return _("%(name)s is added, and their invitation is on its way.", name=person.full_name)
    day = invitations.invitation_day(person.start_date, settings().invite_days_before_start)
    return _(
        "%(name)s is added. Their invitation goes out on %(date)s.",
        name=person.full_name,
        date=format_date(day, "long") if day else "",
    )


def _audit_refusal(person: User, reason: str) -> None:
    """Record a refused change; it stays although the request's own work is undone."""
    actor_id, ip, now = current_user.id, request.remote_addr, clock.now()
    write_after_outcome(
        lambda session: record(
            session,
            action="person.change_refused",
            now=now,
            actor_id=actor_id,
            subject_user_id=person.id,
            ip=ip,
            reason=reason,
            endpoint=request.endpoint,
        )
    )


def _refused_unless_admin(person: User) -> ResponseReturnValue | None:
    """HR's change to an admin: refused with the page saying why (403), and audited."""
    if people_admin.may_change(current_user, person):
        return None
    _audit_refusal(person, "admins_only")
    flash(
        _("Only an admin can change an admin's details, mark them as left or bring them back."),
        "error",
    )
    mark_rollback()
    return _edit_page(person, _person_form(person), DeactivateForm(), 403)


def _last_admin_message(person: User) -> str:
    return _(
        "%(name)s is the only active admin. Make someone else an admin first.",
        name=person.full_name,
    )


def _person_or_404(user_id: int) -> User:
    person = db_session().get(User, user_id)
    if person is None:
        abort(404)
    return person


def _exemptable(person: User) -> list[tuple[int, str]]:
    locale = str(get_locale())
    return [
        (a.id, a.course_version.definition.title.get(locale) or key)
        for a, key in exemptions.exemptable_cycles(db_session(), person)
    ]


def _edit_page(
    person: User,
    form: PersonForm,
    deactivate_form: DeactivateForm,
    status: int = 200,
    *,
    erase_form: EraseForm | None = None,
    exemption_form: ExemptionForm | None = None,
) -> ResponseReturnValue:
    exemption_form = exemption_form or ExemptionForm(formdata=None)
    exemption_form.set_courses(_exemptable(person))
    record(
        db_session(),
        action="view.person_admin",
        now=clock.now(),
        actor_id=current_user.id,
        subject_user_id=person.id,
        ip=request.remote_addr,
    )
    return render_template(
        "admin/person.html",
        person=person,
        form=form,
        deactivate_form=deactivate_form,
        erase_form=erase_form or EraseForm(),
        exemption_form=exemption_form,
        exemptions=exemptions.exemptions_of(db_session(), person),
        erased=erasure.is_erased(db_session(), person),
        retention_days=settings().retention_days,
        reports=people_admin.direct_reports(db_session(), person),
        may_grant=current_user.has_role(Role.ADMIN),
        may_change=people_admin.may_change(current_user, person),
        invite_form=CsrfOnlyForm(),
        invitations_sent=invitations.invitations_of(db_session(), person.id),
    ), status


def _person_form(person: User | None = None) -> PersonForm:
    form = (
        PersonForm(obj=None)
        if person is None
        else PersonForm(
            data={
                "department": person.department.key if person.department else "",
                "manager_email": person.manager.email if person.manager else "",
                "start_date": person.start_date,
                "locale": person.locale,
                "roles": sorted(str(role) for role in person.roles),
            }
        )
    )
    form.set_departments([(d.key, d.name) for d in _departments()])
    return form


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@role_required(*STAFF)
def person(user_id: int) -> ResponseReturnValue:
    person = _person_or_404(user_id)
    if request.method == "GET":
        return _edit_page(person, _person_form(person), DeactivateForm())
    if (refused := _refused_unless_admin(person)) is not None:
        return refused
    form = PersonForm()
    form.set_departments([(d.key, d.name) for d in _departments()])
    if not form.validate_on_submit():
        mark_rollback()
        return _edit_page(person, form, DeactivateForm(), 400)
    session = db_session()
    manager = None
    if form.manager_email.data:
        manager = people_admin.active_person_by_email(session, form.manager_email.data)
        if manager is None:
            form.manager_email.errors = [_("Nobody active in Vern has that email.")]
            mark_rollback()
            return _edit_page(person, form, DeactivateForm(), 400)
    department = session.scalar(select(Department).where(Department.key == form.department.data))
    may_grant = current_user.has_role(Role.ADMIN)
    try:
        changes = people_admin.update_person(
            session,
            person,
            department=department,
            manager=manager,
            start_date=form.start_date.data,
            locale=form.locale.data or "en",
            roles=frozenset(Role(r) for r in form.roles.data or []) if may_grant else None,
            actor_id=current_user.id,
            now=clock.now(),
        )
    except LastActiveAdmin:
        form.roles.errors = [_last_admin_message(person)]
        _audit_refusal(person, "last_active_admin")
        mark_rollback()
        return _edit_page(person, form, DeactivateForm(), 409)
    except ReportingCycle:
        form.manager_email.errors = [
            _(
                "%(name)s cannot report to someone in their own reporting line.",
                name=person.full_name,
            )
        ]
        mark_rollback()
        return _edit_page(person, form, DeactivateForm(), 400)
    assign_courses(session, clock.now(), user=person)  # a new department may add courses
    flash(_("Saved.") if changes else _("Nothing changed."), "success")
    return redirect(url_for("people_admin.person", user_id=person.id))


@bp.route("/<int:user_id>/invite", methods=["POST"])
@role_required(*STAFF)
def invite(user_id: int) -> ResponseReturnValue:
    """Send the person their invitation (again): a new mail, whatever went before."""
    person = _person_or_404(user_id)
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    try:
        queued = invitations.send_invitation(
            db_session(),
            person,
            clock.now(),
            domain=settings().mail_domain,
            actor_id=current_user.id,
        )
    except invitations.NotInvitable:
        flash(
            _("%(name)s has left; only active people are invited.", name=person.full_name), "error"
        )
        mark_rollback()
        return redirect(url_for("people_admin.person", user_id=person.id))
    if queued:
        flash(_("Invitation to %(name)s queued.", name=person.full_name), "success")
    else:  # someone else's click (or the sweep) took this number a moment ago
        message = _("An invitation to %(name)s was queued a moment ago.", name=person.full_name)
        flash(message, "info")
    return redirect(url_for("people_admin.person", user_id=person.id))


@bp.route("/<int:user_id>/deactivate", methods=["POST"])
@role_required(*STAFF)
def deactivate(user_id: int) -> ResponseReturnValue:
    person = _person_or_404(user_id)
    if (refused := _refused_unless_admin(person)) is not None:
        return refused
    form = DeactivateForm()
    if not form.validate_on_submit():
        mark_rollback()
        return _edit_page(person, _person_form(person), form, 400)
    session = db_session()
    successor = None
    if form.reassign_to.data:
        successor = people_admin.active_person_by_email(session, form.reassign_to.data)
        if successor is None or successor.id == person.id:
            form.reassign_to.errors = [_("Choose someone else who is active in Vern.")]
            mark_rollback()
            return _edit_page(person, _person_form(person), form, 400)
    try:
        moved = people_admin.deactivate_person(
            session, person, reassign_to=successor, actor_id=current_user.id, now=clock.now()
        )
    except LastActiveAdmin:
        flash(_last_admin_message(person), "error")
        _audit_refusal(person, "last_active_admin")
        mark_rollback()
        return _edit_page(person, _person_form(person), form, 409)
    except people_admin.ReportsNeedAManager as needed:
        form.reassign_to.errors = [
            _(
                "%(count)s people report to %(name)s. Say who takes them over.",
                count=needed.count,
                name=person.full_name,
            )
        ]
        mark_rollback()
        return _edit_page(person, _person_form(person), form, 400)
    except ReportingCycle:
        form.reassign_to.errors = [
            _("That person reports to %(name)s; choose someone else.", name=person.full_name)
        ]
        mark_rollback()
        return _edit_page(person, _person_form(person), form, 400)
    flash(
        _(
            "%(name)s has left: signed out everywhere, no more reminders, history kept.",
            name=person.full_name,
        )
        + (" " + _("%(count)s reports moved.", count=moved) if moved else ""),
        "success",
    )
    return redirect(url_for("people_admin.person", user_id=person.id))


@bp.route("/<int:user_id>/reactivate", methods=["POST"])
@role_required(*STAFF)
def reactivate(user_id: int) -> ResponseReturnValue:
    person = _person_or_404(user_id)
    if (refused := _refused_unless_admin(person)) is not None:
        return refused
    if DeactivateForm().validate_on_submit():
        people_admin.reactivate_person(
            db_session(), person, actor_id=current_user.id, now=clock.now()
        )
        flash(_("%(name)s is active again; reminders resume.", name=person.full_name), "success")
    return redirect(url_for("people_admin.person", user_id=person.id))


@bp.route("/<int:user_id>/erase", methods=["POST"])
@role_required(Role.ADMIN)
def erase(user_id: int) -> ResponseReturnValue:
    """Erase a leaver's personal data now, before the retention period ends (admins only)."""
    person = _person_or_404(user_id)
    form = EraseForm()
    if not form.validate_on_submit():
        mark_rollback()
        return _edit_page(person, _person_form(person), DeactivateForm(), 400, erase_form=form)
    try:
        erasure.erase_person(
            db_session(), person, now=clock.now(), actor_id=current_user.id, reason="admin"
        )
    except erasure.StillActive:
        # The erase form is not on an active person's page, so the refusal is a message.
        flash(_("Mark the person as left first: an active person is never erased."), "error")
        mark_rollback()
        return _edit_page(person, _person_form(person), DeactivateForm(), 400, erase_form=form)
    except erasure.AlreadyErased:
        flash(_("This person's personal data was already erased."), "info")
        return redirect(url_for("people_admin.person", user_id=person.id))
    flash(
        _("Personal data erased. Their training records stay under a pseudonym and still verify."),
        "success",
    )
    return redirect(url_for("people_admin.person", user_id=person.id))


@bp.route("/<int:user_id>/exemptions", methods=["POST"])
@role_required(*STAFF)
def grant_exemption(user_id: int) -> ResponseReturnValue:
    person = _person_or_404(user_id)
    form = ExemptionForm()
    form.set_courses(_exemptable(person))
    if not form.validate_on_submit():
        mark_rollback()
        return _edit_page(person, _person_form(person), DeactivateForm(), 400, exemption_form=form)
    try:
        exemptions.grant(
            db_session(),
            person,
            int(form.course.data),
            reason=form.reason.data or "",
            expires_on=form.expires_on.data,
            actor_id=current_user.id,
            now=clock.now(),
        )
    except exemptions.ExemptionRefused as refused:
        getattr(form, refused.field).errors = [_(refused.message)]
        mark_rollback()
        if isinstance(refused, exemptions.SelfApproval):
            _audit_refusal(person, "self_approval")
        return _edit_page(person, _person_form(person), DeactivateForm(), 400, exemption_form=form)
    flash(_("Exempted. The course shows as exempt, not complete, and is not chased."), "success")
    return redirect(url_for("people_admin.person", user_id=person.id))


@bp.route("/<int:user_id>/exemptions/<int:exemption_id>/revoke", methods=["POST"])
@role_required(*STAFF)
def revoke_exemption(user_id: int, exemption_id: int) -> ResponseReturnValue:
    person = _person_or_404(user_id)
    exemption = db_session().get(Exemption, exemption_id)
    if exemption is None or exemption.user_id != person.id:
        abort(404)
    if not DeactivateForm().validate_on_submit():  # a CSRF-only form
        abort(400)
    if exemptions.revoke(db_session(), exemption, actor_id=current_user.id, now=clock.now()):
        flash(_("Exemption ended; the course is on their list again."), "success")
    return redirect(url_for("people_admin.person", user_id=person.id))
