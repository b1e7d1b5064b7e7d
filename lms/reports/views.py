"""Dashboards: a manager's reporting line, HR's organisation, one person's evidence.

Every view of someone else's record and every export is audited. Scope is applied in the
queries (reports.access), so another team's ids find nothing and answer 404."""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import (
    Blueprint,
    Response,
    abort,
    g,
    render_template,
    request,
    send_file,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import Session
from wtforms import Form

from lms import clock
from lms.audit.service import record as audit
from lms.catalog.service import current_courses
from lms.clock import iso_utc
from lms.evidence import keys
from lms.extensions import db_session, settings, streamed
from lms.i18n import day_formatter
from lms.people.access import role_required
from lms.people.models import Role, User
from lms.reports import queries, spreadsheet
from lms.reports.access import is_manager
from lms.reports.evidence import completions_pack, evidence_json, evidence_pdf, person_pack
from lms.reports.forms import AsOfForm, OnboardingForm, RangeForm, TeamFilterForm
from lms.reports.queries import Filters, Line, Status
from lms.training.forms import CsrfOnlyForm

bp = Blueprint("reports", __name__)
log = logging.getLogger(__name__)
ORGANISATION = (Role.HR, Role.AUDITOR, Role.ADMIN)
TEAM_PAGE_SIZE = 50


def _viewer() -> User:
    user: User = current_user._get_current_object()
    return user


def _audit(action: str, subject_user_id: int | None = None, **detail: object) -> None:
    audit(
        db_session(),
        action=action,
        now=clock.now(),
        actor_id=_viewer().id,
        subject_user_id=subject_user_id,
        ip=request.remote_addr,
        **detail,
    )


def _course_choices(session: Session) -> list[tuple[str, str]]:
    """(key, title in the reader's language) of every current course."""
    locale = str(get_locale())
    return [
        (course.key, version.definition.title.get(locale) or course.key)
        for course, version in current_courses(session)
    ]


def _team_filters() -> tuple[TeamFilterForm, Filters, bool]:
    """Filters from the query string; invalid ones are reported and ignored."""
    form = TeamFilterForm(request.args, _course_choices(db_session()))
    valid = form.validate() if request.args else True
    if not valid:
        return form, Filters(), False
    return (
        form,
        Filters(
            course=form.course.data or None,
            status=Status(form.status.data) if form.status.data else None,
            line=Line(form.line.data or Line.ALL),
        ),
        True,
    )


def _errors_of(form: Form) -> str:
    return "; ".join(
        f"{name}: {', '.join(str(e) for e in errors)}" for name, errors in form.errors.items()
    )


def _bad_export(message: str) -> Response:
    """Export URLs answer bad parameters with 400 and a plain message, not a page."""
    return Response(message + "\n", status=400, mimetype="text/plain")


def _require_manager() -> None:
    if not is_manager(db_session(), _viewer()):
        abort(403)


# --- manager ---------------------------------------------------------------------------------


@bp.route("/team")
@login_required
def team() -> ResponseReturnValue:
    _require_manager()
    form, filters, valid = _team_filters()
    view = queries.team_view(db_session(), _viewer(), clock.now().date(), filters)
    # The matrix shows a page at a time: hundreds of people × courses in one page is neither
    # readable nor quick; the cards, the chart and the CSV cover the whole line.
    pages = max(1, -(-len(view.rows) // TEAM_PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    shown = view.rows[(page - 1) * TEAM_PAGE_SIZE : page * TEAM_PAGE_SIZE]
    _audit("view.team_dashboard", people=len(view.rows), shown=len(shown), page=page)
    day = day_formatter()  # hundreds of cells share a few dozen dates: each is formatted once
    return render_template(
        "reports/team.html",
        form=form,
        view=view,
        rows=shown,
        page=page,
        pages=pages,
        valid=valid,
        nudge_form=CsrfOnlyForm(),
        statuses=Status,
        day=day,
        due=functools.cache(lambda on: _("due %(date)s", date=day(on))),
    ), (200 if valid else 400)


@bp.route("/team/export.csv")
@login_required
def team_export() -> ResponseReturnValue:
    _require_manager()
    form, filters, valid = _team_filters()
    if not valid:
        return _bad_export(_("Invalid filter: %(errors)s", errors=_errors_of(form)))
    view = queries.team_view(db_session(), _viewer(), clock.now().date(), filters)
    _audit("export.team_csv", people=len(view.rows))
    header = [
        "name",
        "email",
        "department",
        "direct_report",
        "course",
        "status",
        "due_on",
        "completed_at_utc",
    ]
    lines = [spreadsheet.line(header)]
    for row in view.rows:
        for key in sorted(row.cells):
            cell = row.cells[key]
            lines.append(
                spreadsheet.line(
                    [
                        row.name,
                        row.email,
                        row.department,
                        "yes" if row.direct else "no",
                        key,
                        str(cell.status),
                        cell.due_on.isoformat(),
                        iso_utc(cell.completed_at) if cell.completed_at else "",
                    ]
                )
            )
    return Response(
        "".join(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=team-training.csv"},
    )


@bp.route("/team/people/<int:user_id>")
@login_required
def team_person(user_id: int) -> ResponseReturnValue:
    return _person_page(user_id, organisation=False)


# --- HR, auditor, admin ----------------------------------------------------------------------


@bp.route("/hr")
@role_required(*ORGANISATION)
def overview() -> ResponseReturnValue:
    include_leavers = request.args.get("leavers") == "1"
    today = clock.now().date()
    overview = queries.organisation_overview(db_session(), today, include_leavers=include_leavers)
    overdue = queries.overdue_list(db_session(), today, include_leavers=include_leavers)
    _audit("view.organisation_overview", overdue=len(overdue))
    return render_template(
        "reports/overview.html",
        overview=overview,
        overdue=overdue,
        include_leavers=include_leavers,
    )


@bp.route("/hr/onboarding")
@role_required(*ORGANISATION)
def onboarding() -> ResponseReturnValue:
    form = OnboardingForm(request.args)
    valid = form.validate()
    days = form.days.data if valid and form.days.data else 90
    hires = queries.onboarding(db_session(), clock.now().date(), days)
    keys = sorted({key for hire in hires for key in hire.courses})
    _audit("view.onboarding", days=days, people=len(hires))
    return render_template(
        "reports/onboarding.html", form=form, hires=hires, keys=keys, days=days
    ), (200 if valid else 400)


@bp.route("/hr/as-of")
@role_required(*ORGANISATION)
def as_of() -> ResponseReturnValue:
    form = AsOfForm(request.args)
    valid = form.validate()
    result = None
    if valid and form.day.data:
        result = queries.as_of(db_session(), form.day.data)
        _audit("view.as_of", day=form.day.data.isoformat())
    return render_template("reports/as_of.html", form=form, result=result), (200 if valid else 400)


@bp.route("/hr/people/<int:user_id>")
@role_required(*ORGANISATION)
def evidence(user_id: int) -> ResponseReturnValue:
    return _person_page(user_id, organisation=True)


def _record_or_404(user_id: int, *, organisation: bool) -> queries.PersonRecord:
    record = queries.person_record(
        db_session(), _viewer(), user_id, clock.now().date(), organisation=organisation
    )
    if record is None:
        abort(404)
    return record


def _person_page(user_id: int, *, organisation: bool) -> ResponseReturnValue:
    record = _record_or_404(user_id, organisation=organisation)
    _audit("view.person_record", subject_user_id=user_id)
    return render_template(
        "reports/person.html",
        record=record,
        organisation=organisation,
        nudge_form=CsrfOnlyForm(),
        today=clock.now().date(),
    )


@bp.route("/hr/people/<int:user_id>/evidence.json")
@role_required(*ORGANISATION)
def evidence_pack_json(user_id: int) -> ResponseReturnValue:
    record = _record_or_404(user_id, organisation=True)
    _audit("export.evidence_json", subject_user_id=user_id)
    body = json.dumps(evidence_json(record, clock.now()), ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=evidence-{user_id}.json"},
    )


@bp.route("/hr/people/<int:user_id>/evidence.pdf")
@role_required(*ORGANISATION)
def evidence_pack_pdf(user_id: int) -> ResponseReturnValue:
    record = _record_or_404(user_id, organisation=True)
    _audit("export.evidence_pdf", subject_user_id=user_id)
    return Response(
        evidence_pdf(record, clock.now()),
        mimetype="application/pdf",
        headers={"Content-Disposition": f"attachment; filename=evidence-{user_id}.pdf"},
    )


def _signing_key() -> Ed25519PrivateKey:
    """The ledger key signs packs; without it there is no pack worth handing to an auditor."""
    try:
        return keys.load_private_key(settings().ledger_key)
    except keys.LedgerKeyError:
        log.exception("cannot sign an evidence pack")
        abort(
            503,
            _(
                "Signed packs are not available: the ledger key is missing. An operator "
                "creates it with `flask --app app lms ledger init`."
            ),
        )


@bp.route("/hr/people/<int:user_id>/evidence.zip")
@role_required(*ORGANISATION)
def evidence_pack_zip(user_id: int) -> ResponseReturnValue:
    record = _record_or_404(user_id, organisation=True)
    key = _signing_key()
    _audit("export.evidence_pack", subject_user_id=user_id)
    return Response(
        person_pack(db_session(), record, key, clock.now()),
        mimetype="application/zip",
        headers={"Content-Disposition": f"attachment; filename=evidence-{user_id}.zip"},
    )


@bp.route("/hr/export.zip")
@role_required(*ORGANISATION)
def completions_pack_export() -> ResponseReturnValue:
    form = RangeForm(request.args)
    if not form.validate():
        return _bad_export(_("Invalid date range: %(errors)s", errors=_errors_of(form)))
    end = form.end.data or clock.now().date()
    start = form.start.data or end - timedelta(days=365)
    key = _signing_key()
    _audit("export.completions_pack", start=start.isoformat(), end=end.isoformat())
    # Spooled: small packs stay in memory, an organisation's goes to a temporary file.
    target = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - send_file closes it
    completions_pack(db_session(), start, end, key, clock.now(), target)
    target.seek(0)
    return send_file(
        target,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"completions-{start}-{end}.zip",
    )


@bp.route("/hr/export.csv")
@role_required(*ORGANISATION)
def completions_export() -> ResponseReturnValue:
    form = RangeForm(request.args)
    if not form.validate():
        return _bad_export(_("Invalid date range: %(errors)s", errors=_errors_of(form)))
    end = form.end.data or clock.now().date()
    start = form.start.data or end - timedelta(days=365)
    _audit("export.completions_csv", start=start.isoformat(), end=end.isoformat())
    return Response(
        streamed(lambda session: queries.completions_csv(session, start, end)),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=completions-{start}-{end}.csv"},
    )


@bp.app_context_processor
def navigation() -> dict[str, object]:
    """`nav_is_manager()` for the menu: asked at most once per request, only if rendered."""

    def nav_is_manager() -> bool:
        if not current_user.is_authenticated:
            return False
        if "nav_is_manager" not in g:
            g.nav_is_manager = is_manager(db_session(), _viewer())
        return bool(g.nav_is_manager)

    def course_title(key: str) -> str:
        """A course's title in the reader's language (the key if the course is unknown)."""
        if "course_titles" not in g:
            g.course_titles = {
                course.key: version.definition.title
                for course, version in current_courses(db_session())
            }
        titles: dict[str, str] = g.course_titles.get(key, {})
        return titles.get(str(get_locale())) or next(iter(titles.values()), key)

    return {"nav_is_manager": nav_is_manager, "course_title": course_title}
