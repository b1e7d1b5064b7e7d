"""The employee path: My training, modules, quiz, attestation, confirmation."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from lms import clock
from lms.catalog.render import render_markdown
from lms.errors import mark_rollback
from lms.extensions import db_session, settings
from lms.people.models import User
from lms.training import live_sessions, service
from lms.training.cycles import assign_courses
from lms.training.forms import AttestationForm, CsrfOnlyForm
from lms.training.models import LiveSession
from lms.training.rules import names_match
from lms.training.service import CourseProgress
from lms.web import whole_number

bp = Blueprint("training", __name__)


def _messages() -> dict[type[service.TrainingError], str]:
    """What each refusal says to the person, in their language."""
    return {
        service.QuizLocked: _("Read every module before you take the quiz."),
        service.AttemptLimitReached: _(
            "You have used every attempt. Ask your manager or HR to arrange another."
        ),
        service.AlreadyPassed: _("You have already passed this quiz."),
        service.QuizAlreadySubmitted: _(
            "This attempt was already submitted; your first answers count."
        ),
        service.QuizTampered: _(
            "The answers sent do not match the questions you were given, so nothing was saved."
        ),
        service.NotPassed: _("Pass the quiz before you sign the statement."),
        service.AlreadyAttested: _("You have already signed this statement."),
    }


def _message_for(error: service.TrainingError) -> str:
    return _messages().get(type(error), _("That is not possible right now."))


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


def _department_key(user: User) -> str | None:
    return user.department.key if user.department else None


def _progress(course_key: str) -> CourseProgress:
    try:
        return service.course_progress(db_session(), _user(), course_key, clock.now().date())
    except service.NotFound:
        abort(404)


def _language(progress: CourseProgress) -> str:
    return progress.definition.language_for(_user().locale)


@bp.route("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("training.my_training"))


@bp.route("/training")
@login_required
def my_training() -> ResponseReturnValue:
    db = db_session()
    courses = service.my_training(db, _user(), clock.now().date())
    if not courses:
        # Safety net for someone added since the sweep last ran: their courses now, not in a
        # quarter of an hour. Only then: assigning is the sweep's work, not every page view's.
        assign_courses(db, clock.now(), user=_user(), preboarding_days=settings().preboarding_days)
        courses = service.my_training(db, _user(), clock.now().date())
    return render_template(
        "training/my_training.html",
        courses=courses,
        live=live_sessions.open_to(db, _user(), clock.now()),
        seat_form=CsrfOnlyForm(),
    )


def _live_session_or_404(live_session_id: int) -> LiveSession:
    live = db_session().get(LiveSession, live_session_id)
    if live is None:
        abort(404)
    return live


@bp.route("/training/live-sessions/<int:live_session_id>/seat", methods=["POST"])
@login_required
def take_seat(live_session_id: int) -> ResponseReturnValue:
    live = _live_session_or_404(live_session_id)
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    try:
        live_sessions.sign_up(db_session(), live, _user(), clock.now())
    except live_sessions.LiveSessionRefused as refused:
        flash(_(refused.message), "error")
        return redirect(url_for("training.my_training"))
    flash(_("You have a seat. Attending completes the course."), "success")
    return redirect(url_for("training.my_training"))


@bp.route("/training/live-sessions/<int:live_session_id>/seat/cancel", methods=["POST"])
@login_required
def give_up_seat(live_session_id: int) -> ResponseReturnValue:
    live = _live_session_or_404(live_session_id)
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    if live_sessions.cancel_seat(db_session(), live, _user(), clock.now()):
        flash(_("Your seat is given up."), "success")
    return redirect(url_for("training.my_training"))


@bp.route("/training/<course_key>")
@login_required
def course(course_key: str) -> ResponseReturnValue:
    progress = _progress(course_key)
    return render_template(
        "training/course.html", p=progress, lang=_language(progress), form=CsrfOnlyForm()
    )


def _module_index(progress: CourseProgress, slug: str) -> int:
    """Where the module stands in its course; 404 for a module the course does not have."""
    found = next((i for i, m in enumerate(progress.definition.modules) if m.slug == slug), None)
    if found is None:
        abort(404)
    return found


@bp.route("/training/<course_key>/modules/<slug>")
@login_required
def module(course_key: str, slug: str) -> ResponseReturnValue:
    progress = _progress(course_key)
    modules = progress.definition.modules
    index = _module_index(progress, slug)
    lang = _language(progress)
    return render_template(
        "training/module.html",
        p=progress,
        lang=lang,
        module=modules[index],
        body=render_markdown(modules[index].body[lang]),
        position=index + 1,
        previous=modules[index - 1] if index > 0 else None,
        next=modules[index + 1] if index + 1 < len(modules) else None,
        form=CsrfOnlyForm(),
    )


@bp.route("/training/<course_key>/modules/<slug>/read", methods=["POST"])
@login_required
def module_read(course_key: str, slug: str) -> ResponseReturnValue:
    """The reader reached the end of a module and moves on: that, not opening it, counts.

    A POST with a CSRF token because it changes the record; a GET never does (ASVS 4.2.2)."""
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    progress = _progress(course_key)
    modules = progress.definition.modules
    index = _module_index(progress, slug)
    service.record_module_view(db_session(), progress.assignment, slug, clock.now())
    if index + 1 < len(modules):
        return redirect(
            url_for("training.module", course_key=course_key, slug=modules[index + 1].slug)
        )
    return redirect(url_for("training.course", course_key=course_key))


@bp.route("/training/<course_key>/quiz", methods=["GET", "POST"])
@login_required
def quiz(course_key: str) -> ResponseReturnValue:
    progress = _progress(course_key)
    form = CsrfOnlyForm()
    if form.validate_on_submit():
        try:
            attempt = service.start_attempt(
                db_session(),
                progress,
                department_key=_department_key(_user()),
                language=_user().locale,
                now=clock.now(),
            )
        except service.TrainingError as error:
            mark_rollback()
            flash(_message_for(error), "error")
            return redirect(url_for("training.course", course_key=course_key))
        return redirect(url_for("training.attempt", attempt_id=attempt.id))
    return redirect(url_for("training.course", course_key=course_key))


@dataclass
class ServedItem:
    """One question of an attempt as the form shows it: positions only, never option ids."""

    position: int
    question_id: str
    prompt: str
    options: list[tuple[int, str]]
    multiple: bool
    chosen: set[int] = field(default_factory=set)
    error: str | None = None


def _served_items(attempt: service.QuizAttempt) -> list[ServedItem]:
    definition = attempt.assignment.course_version.definition
    lang = attempt.language
    items = []
    for position, served in enumerate(attempt.served):
        question = definition.question(served["question"])
        if question is None:  # pragma: no cover - versions are immutable
            abort(500)
        options = [question.option(option_id) for option_id in served["options"]]
        items.append(
            ServedItem(
                position=position,
                question_id=question.id,
                prompt=question.prompt[lang],
                options=[(i, o.text[lang] if o else "") for i, o in enumerate(options)],
                multiple=question.type == "multiple",
            )
        )
    return items


def _positions_from_form(form: MultiDict[str, str]) -> dict[int, list[int]]:
    """Read fields q<position> = <option position>; anything not shaped so is tampering."""
    positions: dict[int, list[int]] = {}
    for name in form:
        if name in {"csrf_token"}:
            continue
        position = whole_number(name[1:]) if name.startswith("q") else None
        options = [whole_number(v) for v in form.getlist(name)]
        if position is None or None in options:
            raise service.QuizTampered(name)
        positions[position] = [o for o in options if o is not None]
    return positions


@bp.route("/attempts/<int:attempt_id>", methods=["GET", "POST"])
@login_required
def attempt(attempt_id: int) -> ResponseReturnValue:
    db = db_session()
    try:
        attempt = service.attempt_for_user(db, attempt_id, _user())
    except service.NotFound:
        abort(404)
    form = CsrfOnlyForm()
    items = _served_items(attempt)
    course_key = attempt.assignment.course_version.definition.key
    if request.method == "GET" and attempt.submitted_at is not None:
        return redirect(url_for("training.result", attempt_id=attempt.id))
    if form.validate_on_submit():
        try:
            positions = _positions_from_form(request.form)
            answers = service.answers_from_positions(attempt, positions)
            service.submit_attempt(db, attempt, answers, clock.now())
        except service.QuizAlreadySubmitted as error:
            mark_rollback()
            flash(_message_for(error), "error")
            return redirect(url_for("training.result", attempt_id=attempt.id))
        except service.IncompleteAnswers as error:
            mark_rollback()
            for item in items:
                item.chosen = set(positions.get(item.position, []))
                if item.question_id in error.unanswered:
                    item.error = _("Choose an answer.")
            return render_template(
                "training/attempt.html",
                attempt=attempt,
                items=items,
                form=form,
                course_key=course_key,
                error=_("Answer every question before you submit."),
            ), 200
        except service.TrainingError as error:
            mark_rollback()
            return render_template(
                "training/attempt.html",
                attempt=attempt,
                items=items,
                form=form,
                course_key=course_key,
                error=_message_for(error),
            ), 400
        return redirect(url_for("training.result", attempt_id=attempt.id))
    return render_template(
        "training/attempt.html",
        attempt=attempt,
        items=items,
        form=form,
        course_key=course_key,
        error=None,
    )


@bp.route("/attempts/<int:attempt_id>/result")
@login_required
def result(attempt_id: int) -> ResponseReturnValue:
    try:
        attempt = service.attempt_for_user(db_session(), attempt_id, _user())
    except service.NotFound:
        abort(404)
    if attempt.submitted_at is None:
        return redirect(url_for("training.attempt", attempt_id=attempt.id))
    definition = attempt.assignment.course_version.definition
    progress = _progress(definition.key)
    lang = attempt.language
    answers = attempt.answers or {}
    review = []
    for served in attempt.served:
        question = definition.question(served["question"])
        if question is None:  # pragma: no cover - versions are immutable
            abort(500)
        chosen = set(answers.get(question.id, []))
        review.append(
            {
                "prompt": question.prompt[lang],
                "correct": chosen == set(question.correct_ids),
                "options": [
                    {
                        "text": o.text[lang],
                        "chosen": o.id in chosen,
                        "right": o.correct,
                    }
                    for o in (question.option(oid) for oid in served["options"])
                    if o is not None
                ],
                "explanation": question.explanation[lang],
            }
        )
    return render_template(
        "training/result.html",
        attempt=attempt,
        definition=definition,
        review=review,
        p=progress,
        form=CsrfOnlyForm(),
    )


def _wrong_name_message() -> str:
    return _("Type your full name as it is on record: %(name)s", name=_user().full_name)


@bp.route("/training/<course_key>/attest", methods=["GET", "POST"])
@login_required
def attest(course_key: str) -> ResponseReturnValue:
    progress = _progress(course_key)
    if progress.attestation is not None:
        return redirect(url_for("training.confirmation", attestation_id=progress.attestation.id))
    if progress.passed_attempt is None:
        flash(_message_for(service.NotPassed()), "error")
        return redirect(url_for("training.course", course_key=course_key))
    lang = _language(progress)
    form = AttestationForm()
    if request.method == "GET":
        form.statement_sha256.data = progress.definition.statement_sha256(lang)
    if form.validate_on_submit():
        try:
            attestation = service.sign_attestation(
                db_session(),
                progress,
                _user(),
                agreed=bool(form.agree.data),
                typed_name=form.typed_name.data or "",
                language=lang,
                statement_sha256=form.statement_sha256.data or "",
                ip=request.remote_addr,
                user_agent=request.user_agent.string,
                now=clock.now(),
            )
        except service.AttestationInvalid as error:
            mark_rollback()
            field_messages = {
                "agree": _("Tick the box to confirm the statement."),
                "typed_name": _wrong_name_message(),
                "statement": _("The statement changed since you opened the page. Read it again."),
            }
            target = form.typed_name if error.field == "typed_name" else form.agree
            target.errors = [*target.errors, field_messages[error.field]]
            form.statement_sha256.data = progress.definition.statement_sha256(lang)
        except service.TrainingError as error:
            mark_rollback()
            flash(_message_for(error), "error")
            return redirect(url_for("training.course", course_key=course_key))
        else:
            flash(_("Thank you. Your attestation is recorded."), "success")
            return redirect(url_for("training.confirmation", attestation_id=attestation.id))
    elif form.is_submitted():
        mark_rollback()
        # Report a wrong name together with the other mistakes, not one submit later.
        typed = form.typed_name.data or ""
        if typed and not names_match(typed, _user().full_name):
            form.typed_name.errors = [*form.typed_name.errors, _wrong_name_message()]
    return render_template(
        "training/attest.html",
        p=progress,
        lang=lang,
        form=form,
        statement=progress.definition.attestation[lang],
    )


@bp.route("/attestations/<int:attestation_id>")
@login_required
def confirmation(attestation_id: int) -> ResponseReturnValue:
    db = db_session()
    try:
        attestation = service.attestation_for_user(db, attestation_id, _user())
    except service.NotFound:
        abort(404)
    definition = attestation.assignment.course_version.definition
    return render_template(
        "training/confirmation.html",
        attestation=attestation,
        ledger_entry=service.ledger_entry_of(db, attestation),
        definition=definition,
        lang=attestation.language,
    )
