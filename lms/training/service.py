"""Training services: assignment, progress, quiz attempts and attestation signing."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer, joinedload

from lms.catalog.definition import CourseDefinition
from lms.catalog.models import Course
from lms.evidence import ledger
from lms.evidence.models import LedgerEntry
from lms.people.models import User
from lms.training import evidence_lines, rules
from lms.training.models import Assignment, Attestation, ModuleView, QuizAttempt
from lms.training.rules import Stage

_system_random = random.SystemRandom()


class TrainingError(Exception):
    """A training action that is not allowed now; the message is safe to show the person."""


class NotFound(TrainingError):
    """No such thing for this person (also what someone else's record looks like)."""


class QuizLocked(TrainingError):
    pass


class AttemptLimitReached(TrainingError):
    pass


class AlreadyPassed(TrainingError):
    pass


class QuizAlreadySubmitted(TrainingError):
    pass


class QuizTampered(TrainingError):
    pass


class IncompleteAnswers(TrainingError):
    def __init__(self, unanswered: list[str]) -> None:
        super().__init__("Answer every question before you submit")
        self.unanswered = unanswered


class NotPassed(TrainingError):
    pass


class AlreadyAttested(TrainingError):
    pass


class AttestationInvalid(TrainingError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CourseProgress:
    """One line of "My training"."""

    assignment: Assignment
    definition: CourseDefinition
    viewed: frozenset[str]
    passed_attempt: QuizAttempt | None
    attestation: Attestation | None
    attempts_used: int
    stage: Stage
    overdue: bool
    percent: int

    @property
    def quiz_unlocked(self) -> bool:
        return all(m.slug in self.viewed for m in self.definition.modules)

    @property
    def attempts_left(self) -> int | None:
        limit = self.definition.max_attempts
        return None if limit is None else max(0, limit - self.attempts_used)


# --- reading progress -----------------------------------------------------------------------


def _latest_assignments(session: Session, user: User) -> list[Assignment]:
    latest_cycle = (
        select(Assignment.course_id, func.max(Assignment.cycle).label("cycle"))
        .where(Assignment.user_id == user.id)
        .group_by(Assignment.course_id)
        .subquery()
    )
    return list(
        session.scalars(
            select(Assignment)
            .join(
                latest_cycle,
                (latest_cycle.c.course_id == Assignment.course_id)
                & (latest_cycle.c.cycle == Assignment.cycle),
            )
            .where(Assignment.user_id == user.id)
            .order_by(Assignment.due_on, Assignment.id)
            .options(joinedload(Assignment.course_version))  # one query, not one per course
        )
    )


def _progress_for(
    session: Session, assignments: list[Assignment], today: date
) -> list[CourseProgress]:
    ids = [a.id for a in assignments]
    views: dict[int, set[str]] = {i: set() for i in ids}
    for assignment_id, slug in session.execute(
        select(ModuleView.assignment_id, ModuleView.module_slug).where(
            ModuleView.assignment_id.in_(ids)
        )
    ):
        views[assignment_id].add(slug)
    attempts: dict[int, list[QuizAttempt]] = {i: [] for i in ids}
    for attempt in session.scalars(
        select(QuizAttempt)
        .where(QuizAttempt.assignment_id.in_(ids))
        .order_by(QuizAttempt.number)
        # what was served and answered is for the attempt's own page, not for a progress line
        .options(defer(QuizAttempt.served), defer(QuizAttempt.answers))
    ):
        attempts[attempt.assignment_id].append(attempt)
    attestations = {
        a.assignment_id: a
        for a in session.scalars(select(Attestation).where(Attestation.assignment_id.in_(ids)))
    }
    result = []
    for assignment in assignments:
        definition = assignment.course_version.definition
        slugs = {m.slug for m in definition.modules}
        viewed = frozenset(views[assignment.id] & slugs)
        passed = next((a for a in attempts[assignment.id] if a.passed), None)
        attestation = attestations.get(assignment.id)
        # Attending a live session completes the course; signing here stays optional.
        live = assignment.completed_via == "live_session"
        stage = rules.stage_of(
            viewed=len(viewed), passed=passed is not None, attested=attestation is not None or live
        )
        result.append(
            CourseProgress(
                assignment=assignment,
                definition=definition,
                viewed=viewed,
                passed_attempt=passed,
                attestation=attestation,
                attempts_used=sum(1 for a in attempts[assignment.id] if a.submitted_at),
                stage=stage,
                overdue=rules.is_overdue(stage=stage, due=assignment.due_on, today=today),
                percent=100
                if live
                else rules.progress_percent(
                    viewed=len(viewed),
                    modules=len(definition.modules),
                    passed=passed is not None,
                    attested=attestation is not None,
                ),
            )
        )
    return result


def my_training(session: Session, user: User, today: date) -> list[CourseProgress]:
    """Every course the person is assigned (latest cycle each), soonest due first."""
    return _progress_for(session, _latest_assignments(session, user), today)


def course_progress(session: Session, user: User, course_key: str, today: date) -> CourseProgress:
    """The person's current cycle of one course, or NotFound if they are not assigned it."""
    assignment = session.scalar(
        select(Assignment)
        .join(Course, Course.id == Assignment.course_id)
        .where(Assignment.user_id == user.id, Course.key == course_key)
        .order_by(Assignment.cycle.desc())
        .limit(1)
    )
    if assignment is None:
        raise NotFound(course_key)
    return _progress_for(session, [assignment], today)[0]


# --- modules --------------------------------------------------------------------------------


def record_module_view(session: Session, assignment: Assignment, slug: str, now: datetime) -> None:
    """Remember that a module was read to its end; reading it again changes nothing."""
    if assignment.course_version.definition.module(slug) is None:
        raise NotFound(slug)
    already = session.scalar(
        select(
            exists().where(
                ModuleView.assignment_id == assignment.id, ModuleView.module_slug == slug
            )
        )
    )
    if already:
        return
    try:
        with session.begin_nested():
            session.add(ModuleView(assignment_id=assignment.id, module_slug=slug, viewed_at=now))
    except IntegrityError:
        pass  # the same person opened it twice at once; one row is enough


# --- quiz -----------------------------------------------------------------------------------


def open_attempt(session: Session, assignment: Assignment) -> QuizAttempt | None:
    return session.scalar(
        select(QuizAttempt).where(
            QuizAttempt.assignment_id == assignment.id, QuizAttempt.submitted_at.is_(None)
        )
    )


def start_attempt(
    session: Session,
    progress: CourseProgress,
    *,
    department_key: str | None,
    language: str,
    now: datetime,
    rng: random.Random | None = None,
) -> QuizAttempt:
    """Serve a new random draw, or return the attempt already open (no re-rolling questions)."""
    if progress.passed_attempt is not None:
        raise AlreadyPassed("You have already passed this quiz")
    if not progress.quiz_unlocked:
        raise QuizLocked("Read every module before you take the quiz")
    existing = open_attempt(session, progress.assignment)
    if existing is not None:
        return existing
    if progress.attempts_left == 0:
        raise AttemptLimitReached("You have used every attempt; ask your manager or HR for help")
    rng = rng or _system_random
    definition = progress.definition
    bank = definition.questions_for(department_key)
    drawn = rng.sample(bank, k=min(definition.questions_per_attempt, len(bank)))
    served = []
    for question in drawn:
        option_ids = [o.id for o in question.options]
        rng.shuffle(option_ids)
        served.append({"question": question.id, "options": option_ids})
    attempt = QuizAttempt(
        assignment_id=progress.assignment.id,
        number=progress.attempts_used + 1,
        language=definition.language_for(language),
        served=served,
        started_at=now,
    )
    session.add(attempt)
    session.flush()
    return attempt


def attempt_for_user(session: Session, attempt_id: int, user: User) -> QuizAttempt:
    """The attempt if it belongs to `user`; someone else's looks exactly like a missing one."""
    attempt = session.scalar(
        select(QuizAttempt)
        .join(Assignment, Assignment.id == QuizAttempt.assignment_id)
        .where(QuizAttempt.id == attempt_id, Assignment.user_id == user.id)
    )
    if attempt is None:
        raise NotFound(str(attempt_id))
    return attempt


def _check_answers(
    definition: CourseDefinition, served: list[dict[str, Any]], answers: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    offered = {item["question"]: item["options"] for item in served}
    for question_id, chosen in answers.items():
        if question_id not in offered:
            raise QuizTampered("The answers do not match the questions you were given")
        if any(option not in offered[question_id] for option in chosen):
            raise QuizTampered("The answers do not match the options you were given")
        question = definition.question(question_id)
        if question is None or (question.type == "single" and len(chosen) > 1):
            raise QuizTampered("Only one answer may be chosen for that question")
        if len(set(chosen)) != len(chosen):
            raise QuizTampered("An option was submitted twice")
    unanswered = [qid for qid in offered if not answers.get(qid)]
    if unanswered:
        raise IncompleteAnswers(unanswered)
    return {qid: sorted(answers[qid]) for qid in offered}


def answers_from_positions(
    attempt: QuizAttempt, positions: Mapping[int, list[int]]
) -> dict[str, list[str]]:
    """Translate the form's (question position -> option positions) into ids.

    The page only ever shows positions, so the markup gives away nothing about which option
    id an author marked correct; anything outside what was served is tampering."""
    answers: dict[str, list[str]] = {}
    for question_pos, option_positions in positions.items():
        if not 0 <= question_pos < len(attempt.served):
            raise QuizTampered("The answers do not match the questions you were given")
        item = attempt.served[question_pos]
        options = item["options"]
        if any(not 0 <= pos < len(options) for pos in option_positions):
            raise QuizTampered("The answers do not match the options you were given")
        answers[item["question"]] = [options[pos] for pos in option_positions]
    return answers


def submit_attempt(
    session: Session, attempt: QuizAttempt, answers: Mapping[str, list[str]], now: datetime
) -> QuizAttempt:
    """Grade an open attempt on the server; a second or forged submission changes nothing."""
    if attempt.submitted_at is not None:
        raise QuizAlreadySubmitted("This attempt was already submitted")
    definition = attempt.assignment.course_version.definition
    clean = _check_answers(definition, attempt.served, answers)
    result = rules.grade(definition, attempt.served, clean)
    # Claim the attempt with a conditional UPDATE so two submits racing each other cannot both
    # be graded: only the one that flips submitted_at from NULL wins.
    claimed = session.execute(
        update(QuizAttempt)
        .where(QuizAttempt.id == attempt.id, QuizAttempt.submitted_at.is_(None))
        .values(
            submitted_at=now,
            answers=clean,
            correct_count=result.correct,
            score_percent=result.score_percent,
            passed=result.passed,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise QuizAlreadySubmitted("This attempt was already submitted")
    session.refresh(attempt)
    _record_attempt_in_ledger(session, attempt, now)
    return attempt


def _record_attempt_in_ledger(
    session: Session,
    attempt: QuizAttempt,
    at: datetime,
    source: ledger.Source = ledger.Source.APP,
) -> None:
    definition = attempt.assignment.course_version.definition
    record = ledger.Record(
        kind=ledger.Kind.QUIZ_RESULT,
        record=f"attempt:{attempt.id}",
        course_key=definition.key,
        version_sha256=definition.sha256,
        language=attempt.language,
        score=attempt.score_percent,
        source=source,
        evidence=evidence_lines.attempt_evidence(attempt),
    )
    ledger.append(session, attempt.assignment.user_id, record, at)


# --- attestation ----------------------------------------------------------------------------


def sign_attestation(
    session: Session,
    progress: CourseProgress,
    user: User,
    *,
    agreed: bool,
    typed_name: str,
    language: str,
    statement_sha256: str,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> Attestation:
    """Record that `user` signed this exact version's statement; append-only, and chained in
    the evidence ledger (its entry is the record: `ledger_entry_of`)."""
    if progress.attestation is not None:
        raise AlreadyAttested("You have already signed this statement")
    if progress.passed_attempt is None or progress.passed_attempt.score_percent is None:
        raise NotPassed("Pass the quiz before you sign the statement")
    definition = progress.definition
    language = definition.language_for(language)
    if statement_sha256 != definition.statement_sha256(language):
        raise AttestationInvalid(
            "statement", "The statement changed since you opened the page; read it again"
        )
    if not agreed:
        raise AttestationInvalid("agree", "Tick the box to confirm the statement")
    if not rules.names_match(typed_name, user.full_name):
        raise AttestationInvalid(
            "typed_name", f"Type your full name as it is on record: {user.full_name}"
        )
    attestation = Attestation(
        user_id=user.id,
        assignment_id=progress.assignment.id,
        quiz_attempt_id=progress.passed_attempt.id,
        course_key=definition.key,
        version_sha256=definition.sha256,
        language=language,
        statement_sha256=statement_sha256,
        score_percent=progress.passed_attempt.score_percent,
        typed_name=" ".join(typed_name.split()),
        ip=ip,
        user_agent=(user_agent or "")[:400] or None,
        statement=definition.attestation[language],
        signed_at=now,
        cycle=progress.assignment.cycle,
        person_email=user.email,
        person_name=user.full_name,
        department=user.department.name if user.department else "",
    )
    session.add(attestation)
    session.flush()  # its id names it in the ledger
    _record_in_ledger(session, attestation, now)
    assignment = progress.assignment
    if assignment.completed_at is None:  # else a live session completed it; that date stands
        assignment.completed_at = now
        assignment.next_reminder_on = None
        assignment.renews_on = rules.renews_on(
            now.date(), definition.renew_every_days, definition.renew_on
        )
    session.flush()
    return attestation


def _record_in_ledger(
    session: Session,
    attestation: Attestation,
    now: datetime,
    source: ledger.Source = ledger.Source.APP,
) -> None:
    """The signature, and the completion it makes, as two entries of the evidence ledger."""
    key = ledger.subject_for(session, attestation.user_id, now).digest_key
    evidence = evidence_lines.attestation_evidence(attestation, key)

    def record(kind: ledger.Kind, **extra: Any) -> ledger.Record:
        return ledger.Record(
            kind=kind,
            record=f"attestation:{attestation.id}",
            course_key=attestation.course_key,
            version_sha256=attestation.version_sha256,
            language=attestation.language,
            score=attestation.score_percent,
            source=source,
            evidence=evidence,
            **extra,
        )

    signed = record(
        ledger.Kind.ATTESTATION,
        statement_sha256=attestation.statement_sha256,
        typed_name=attestation.typed_name,
        ip=attestation.ip,
        user_agent=attestation.user_agent,
    )
    ledger.append(session, attestation.user_id, signed, now)
    ledger.append(session, attestation.user_id, record(ledger.Kind.COMPLETION), now)


def ledger_entry_of(session: Session, attestation: Attestation) -> LedgerEntry | None:
    """The signature's entry in the evidence ledger: its seq and hash are the record of it."""
    return session.scalar(
        select(LedgerEntry).where(
            LedgerEntry.kind == str(ledger.Kind.ATTESTATION),
            LedgerEntry.record == f"attestation:{attestation.id}",
        )
    )


def attestation_for_user(session: Session, attestation_id: int, user: User) -> Attestation:
    attestation = session.scalar(
        select(Attestation).where(Attestation.id == attestation_id, Attestation.user_id == user.id)
    )
    if attestation is None:
        raise NotFound(str(attestation_id))
    return attestation


def backfill_ledger(session: Session) -> int:
    """Enter the quiz results, signatures and completions recorded before the ledger existed,
    in the order they happened (marked as backfilled); returns how many entries that made.
    Only into an empty ledger: history cannot be slotted in behind entries already chained."""
    if ledger.head(session)[0] != 0:
        raise ValueError("the ledger already has entries; history can only go into an empty one")
    attempts = session.scalars(select(QuizAttempt).where(QuizAttempt.submitted_at.is_not(None)))
    history: list[tuple[datetime, int, QuizAttempt | Attestation]] = [
        (typing_cast(datetime, attempt.submitted_at), 0, attempt) for attempt in attempts
    ]
    history += [(a.signed_at, 1, a) for a in session.scalars(select(Attestation))]
    for at, _, item in sorted(history, key=lambda event: (event[0], event[1], event[2].id)):
        if isinstance(item, Attestation):
            _record_in_ledger(session, item, at, source=ledger.Source.BACKFILL)
        else:
            _record_attempt_in_ledger(session, item, at, source=ledger.Source.BACKFILL)
    return ledger.head(session)[0]
