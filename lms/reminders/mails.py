"""Turn outbox rows into finished mails, in the recipient's language, when they are sent.

Rendering happens at send time so a reminder about a course finished in the meantime is
skipped rather than sent. Needs the Flask app context (templates, translations)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms import clock
from lms.catalog.models import CourseVersion
from lms.config import Settings
from lms.mail import OutgoingMail, sender_address
from lms.people.models import User
from lms.people.service import reporting_line_ids
from lms.people.sso import service as sso
from lms.reminders import invitations
from lms.reminders.models import OutboxMessage
from lms.training.exemptions import exempt_now
from lms.training.models import Assignment


class SkipMessage(Exception):
    """The message is no longer true (course completed, person left); record why, send nothing."""


@dataclass(frozen=True)
class DigestLine:
    person: str
    course: str
    due_on: date
    overdue: bool


def _users(session: Session, ids: list[int]) -> list[User]:
    found = [session.get(User, i) for i in ids]
    return [u for u in found if u is not None and u.active]


def prefetch(session: Session, messages: list[OutboxMessage]) -> None:
    """Load a batch's assignments and people in two queries, into the session's identity
    map, so rendering each message finds them there instead of querying one by one."""
    assignment_ids = [m.payload["assignment_id"] for m in messages if m.kind == "reminder"]
    user_ids = {i for m in messages for i in m.payload.get("to", []) + m.payload.get("cc", [])}
    loaded: list[object] = []
    if assignment_ids:
        assignments = session.scalars(select(Assignment).where(Assignment.id.in_(assignment_ids)))
        loaded.extend(assignments)
        user_ids.update(a.user_id for a in loaded if isinstance(a, Assignment))
    if user_ids:
        loaded.extend(session.scalars(select(User).where(User.id.in_(user_ids))))
    # The identity map holds objects weakly; keep them alive for as long as the batch runs.
    session.info["prefetched"] = loaded


def _mail(
    settings: Settings,
    message: OutboxMessage,
    to: list[User],
    cc: list[User],
    subject: str,
    template: str,
    **context: object,
) -> OutgoingMail:
    return OutgoingMail(
        message_id=message.message_id,
        sender=sender_address(settings.mail_from_name, settings.mail_from),
        to=tuple(u.email for u in to),
        cc=tuple(u.email for u in cc),
        subject=subject,
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )


def render_reminder(session: Session, message: OutboxMessage, settings: Settings) -> OutgoingMail:
    payload = message.payload
    assignment = session.get(Assignment, payload["assignment_id"])
    if assignment is None:
        raise SkipMessage("assignment no longer exists")
    if assignment.completed_at is not None:
        raise SkipMessage("course completed before the reminder was sent")
    if assignment.superseded_at is not None or assignment.ended_at is not None:
        raise SkipMessage("this cycle is no longer chased")
    employee = session.get(User, assignment.user_id)
    if employee is None or not employee.active:
        raise SkipMessage("the person is no longer active")
    to, cc = _users(session, payload["to"]), _users(session, payload["cc"])
    if not to:
        raise SkipMessage("no active recipient left")
    definition = assignment.course_version.definition
    language = to[0].locale
    course_language = definition.language_for(language)
    with force_locale(language):
        context = {
            "employee": employee,
            "recipient": to[0],
            "course_title": definition.title[course_language],
            "due_on": assignment.due_on,
            "days": abs(payload["offset"]),
            "stage": payload["stage_kind"],
            "offset": payload["offset"],
            "course_url": f"{settings.base_url}/training/{definition.key}",
            **_record_urls(session, settings, employee, to[0], cc),
            "settings_url": f"{settings.base_url}/account",
            "manager_name": _name_of(session, payload.get("from_manager")),
        }
        subject = _reminder_subject(
            payload["stage_kind"], payload["offset"], employee, definition.title[course_language]
        )
        return _mail(settings, message, to, cc, subject, "reminder", **context)


def _above(session: Session, employee: User, reader: User) -> bool:
    """Whether `reader` is in the employee's management chain (may open their team page)."""
    manager_id = employee.manager_id
    for _hop in range(50):  # reporting chains are short; the bound only guards bad data
        if manager_id is None:
            return False
        if manager_id == reader.id:
            return True
        manager = session.get(User, manager_id)
        manager_id = manager.manager_id if manager is not None else None
    return False


def _record_urls(
    session: Session, settings: Settings, employee: User, reader: User, cc: list[User]
) -> dict[str, str | None]:
    """Where an escalation's readers see the person's training: the team page for someone
    above them, the organisation's page for HR (who may sit elsewhere, and may be in copy)."""
    team = f"{settings.base_url}/team/people/{employee.id}"
    organisation = f"{settings.base_url}/hr/people/{employee.id}"
    if not _above(session, employee, reader):
        return {"record_url": organisation, "hr_record_url": None}
    hr_in_copy = any(not _above(session, employee, person) for person in cc)
    return {"record_url": team, "hr_record_url": organisation if hr_in_copy else None}


def _name_of(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.full_name if user else None


def _reminder_subject(kind: str, offset: int, employee: User, course: str) -> str:
    if kind == "nudge":
        return _("A reminder from your manager: %(course)s", course=course)
    if kind == "escalation":
        return _(
            "Overdue training: %(name)s has not completed %(course)s",
            name=employee.full_name,
            course=course,
        )
    if offset < 0:
        return _("Reminder: %(course)s is due in %(days)s days", course=course, days=-offset)
    if offset == 0:
        return _("Reminder: %(course)s is due today", course=course)
    return _("Overdue: %(course)s was due %(days)s days ago", course=course, days=offset)


def digest_lines(session: Session, manager_id: int, today: date) -> list[DigestLine]:
    """Open training in the manager's whole reporting line: overdue or due within a week."""
    line = reporting_line_ids(session, manager_id)
    if not line:
        return []
    rows = session.execute(
        select(User.full_name, User.locale, Assignment.due_on, CourseVersion.content)
        .join(Assignment, Assignment.user_id == User.id)
        .join(CourseVersion, CourseVersion.id == Assignment.course_version_id)
        .where(
            User.id.in_(line),
            User.active.is_(True),
            Assignment.completed_at.is_(None),
            Assignment.ended_at.is_(None),
            Assignment.superseded_at.is_(None),
            Assignment.due_on <= today + timedelta(days=7),
            ~exempt_now(),
        )
        .order_by(Assignment.due_on, User.full_name)
    )
    return [
        DigestLine(
            person=name,
            course=content["title"].get(locale) or next(iter(content["title"].values())),
            due_on=due_on,
            overdue=due_on < today,
        )
        for name, locale, due_on, content in rows
    ]


def render_digest(
    session: Session, message: OutboxMessage, settings: Settings, today: date
) -> OutgoingMail:
    manager = session.get(User, message.payload["manager_id"])
    if manager is None or not manager.active:
        raise SkipMessage("the manager is no longer active")
    lines = digest_lines(session, manager.id, today)
    if not lines:
        raise SkipMessage("nothing open in the reporting line this week")
    with force_locale(manager.locale):
        overdue = sum(1 for line in lines if line.overdue)
        subject = _(
            "Weekly training digest: %(overdue)s overdue, %(soon)s due soon",
            overdue=overdue,
            soon=len(lines) - overdue,
        )
        return _mail(
            settings,
            message,
            [manager],
            [],
            subject,
            "digest",
            manager=manager,
            lines=lines,
            week=message.payload["week"],
            team_url=f"{settings.base_url}/team",
            settings_url=f"{settings.base_url}/account",
        )


def render_test(session: Session, message: OutboxMessage, settings: Settings) -> OutgoingMail:
    to = _users(session, message.payload["to"])
    if not to:
        raise SkipMessage("the admin who asked for it is no longer active")
    with force_locale(to[0].locale):
        return _mail(
            settings,
            message,
            to,
            [],
            _("Vern test mail"),
            "test",
            recipient=to[0],
            sender=sender_address(settings.mail_from_name, settings.mail_from),
            settings_url=f"{settings.base_url}/admin/settings",
        )


@dataclass(frozen=True)
class SignInWay:
    """How an invitation tells the person to sign in: a provider's button or a link."""

    url: str
    provider_name: str | None = None  # "Sign in with <provider_name>" when single sign-on


def sign_in_way(session: Session, user: User, settings: Settings) -> SignInWay:
    """The way in for this person: their company's identity provider if one answers for
    their address, else the sign-in page with their address filled in (where they can also
    ask for a sign-in link). Either way they land on My training."""
    provider = sso.provider_for_email(session, user.email)
    if provider is not None:
        # Built from the URL map: a mail is rendered outside any request.
        path = current_app.url_map.bind("localhost").build(
            "sso.start", {"name": provider.name, "next": "/training", "login_hint": user.email}
        )
        return SignInWay(url=f"{settings.base_url}{path}", provider_name=provider.display_name)
    query = urlencode({"email": user.email, "next": "/training"})
    return SignInWay(url=f"{settings.base_url}/login?{query}")


def render_invitation(
    session: Session, message: OutboxMessage, settings: Settings, now: datetime
) -> OutgoingMail:
    """The welcome mail: what Vern is, what is due by when, how to sign in."""
    person = session.get(User, message.payload["to"][0])
    if person is None or not person.active:
        raise SkipMessage("the person is no longer active")
    today = invitations.local_today(now, person.timezone)
    way = sign_in_way(session, person, settings)
    with force_locale(person.locale):
        return _mail(
            settings,
            message,
            [person],
            [],
            _("Welcome to Vern, your privacy and security training"),
            "invitation",
            recipient=person,
            courses=invitations.due_courses(session, person, today),
            sign_in_url=way.url,
            provider_name=way.provider_name,
            training_url=f"{settings.base_url}/training",
        )


def render(
    session: Session, message: OutboxMessage, settings: Settings, today: date
) -> OutgoingMail:
    """The finished mail for an outbox row, or SkipMessage if it should not go out."""
    from lms.reminders import link_mails  # imported here: it builds on this module

    if message.kind == "reminder":
        return render_reminder(session, message, settings)
    if message.kind == "digest":
        return render_digest(session, message, settings, today)
    if message.kind == "test":
        return render_test(session, message, settings)
    if message.kind == invitations.KIND:
        return render_invitation(session, message, settings, clock.now())
    if message.kind in link_mails.KINDS:
        return link_mails.render(session, message, settings)
    raise ValueError(f"no renderer for outbox kind {message.kind!r}")
