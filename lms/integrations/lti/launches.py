"""What an accepted LTI launch does: refuse replays, find or provision the person, check the
course is theirs to take, and record the launch (with the platform's line item for the score).

pylti1p3 has checked the signature, issuer, audience, expiry, deployment and message type
before any of this runs; these functions see only claims that were signed by the platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms.catalog.models import Course
from lms.catalog.service import current_courses
from lms.integrations.lti.models import LtiLaunch, LtiPlatform, LtiUsedNonce, LtiUserLink
from lms.messages import N_
from lms.people.models import Department, Role, User
from lms.people.service import create_user, email_problem, normalise_email, user_by_email
from lms.training.cycles import assign_courses
from lms.training.models import Assignment, Attestation, QuizAttempt

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
COURSE_PATH = "/lti/courses/"
# Roles whose accounts a launch never signs in: they read or change other people's records.
PRIVILEGED = frozenset({Role.ADMIN, Role.HR, Role.AUDITOR})


class LaunchRefused(Exception):
    """The launch cannot go on. `message` is for the person (translated by the page, with
    `values`); `cause` is for the log and the admin's list of failed launches."""

    def __init__(self, message: str, cause: str, **values: str) -> None:
        super().__init__(cause)
        self.message = message
        self.cause = cause
        self.values = values


@dataclass(frozen=True)
class AcceptedLaunch:
    user: User
    course_key: str
    launch: LtiLaunch


def custom_claims(claims: dict[str, Any]) -> dict[str, Any]:
    custom = claims.get(LTI + "custom")
    return custom if isinstance(custom, dict) else {}


def course_of(claims: dict[str, Any]) -> str | None:
    """The course a launch opens: the `course` custom parameter (what Vern's deep links set),
    else the last part of a target link like https://vern.example/lti/courses/<key>."""
    course = custom_claims(claims).get("course")
    if isinstance(course, str) and course:
        return course
    target = claims.get(LTI + "target_link_uri")
    if isinstance(target, str):
        path = urlsplit(target).path
        if COURSE_PATH in path:
            return path.split(COURSE_PATH, 1)[1].strip("/") or None
    return None


def consume_nonce(session: Session, platform: LtiPlatform, nonce: str, now: datetime) -> None:
    """Each id_token opens one launch: its nonce is stored, and a second use is refused."""
    try:
        with session.begin_nested():
            session.add(LtiUsedNonce(platform_id=platform.id, nonce=nonce[:200], used_at=now))
    except IntegrityError:
        raise LaunchRefused(
            N_("This launch link was already used. Open the course again from your LMS."),
            f"replayed nonce from {platform.issuer}",
        ) from None


def _name_of(claims: dict[str, Any], email: str) -> str:
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return name
    parts = [claims.get("given_name"), claims.get("family_name")]
    joined = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    return joined or email.split("@", 1)[0]


def _department(session: Session, platform: LtiPlatform, claims: dict[str, Any]) -> Department:
    claim = platform.department_claim or ""
    value = claims.get(claim) if "://" in claim else custom_claims(claims).get(claim)
    if not claim or not isinstance(value, str) or not value.strip():
        raise LaunchRefused(
            N_(
                "Your LMS did not say which department you work in, so Vern cannot tell which "
                "training is yours. Ask your administrator."
            ),
            f"no department claim {claim or '(none configured)'} from {platform.issuer}",
        )
    department = session.scalar(select(Department).where(Department.key == value.strip()))
    if department is None or department.archived_at is not None:
        raise LaunchRefused(
            N_(
                "Your LMS names a department Vern does not know (%(department)s). Ask your "
                "administrator."
            ),
            f"unknown department {value.strip()!r} from {platform.issuer}",
            department=value.strip(),
        )
    return department


def _provision(
    session: Session, platform: LtiPlatform, claims: dict[str, Any], email: str, now: datetime
) -> User:
    locale = claims.get("locale")
    return create_user(
        session,
        email=email,
        full_name=_name_of(claims, email),
        now=now,
        department=_department(session, platform, claims),
        locale="nb"
        if isinstance(locale, str) and locale.lower().startswith(("nb", "no"))
        else "en",
    )


def person_for(
    session: Session, platform: LtiPlatform, claims: dict[str, Any], now: datetime
) -> User:
    """The Vern user behind the platform's `sub`: linked before, matched by email (from a
    platform trusted for that), or (from a platform trusted to provision) created with the
    department from the platform's claim; never an admin, HR or auditor account."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise LaunchRefused(
            N_("Your LMS did not say who you are. Open the course again from your LMS."),
            f"launch without sub from {platform.issuer}",
        )
    user = session.scalar(
        select(User)
        .join(LtiUserLink, LtiUserLink.user_id == User.id)
        .where(LtiUserLink.platform_id == platform.id, LtiUserLink.subject == subject)
    )
    if user is None:
        raw_email = claims.get("email")
        email = normalise_email(raw_email) if isinstance(raw_email, str) else ""
        if not email or email_problem(email):
            raise LaunchRefused(
                N_(
                    "Your LMS did not share your email address, so Vern cannot find your "
                    "account. Ask your administrator to allow it."
                ),
                f"no usable email claim for sub {subject!r} from {platform.issuer}",
            )
        user = user_by_email(session, email)
        if user is not None and not platform.matches_by_email:
            raise LaunchRefused(
                N_(
                    "Your LMS account is not linked to Vern, and this LMS is not trusted to "
                    "find your Vern account by email. Ask your administrator."
                ),
                f"email match for {email} refused: {platform.issuer} is not trusted to match "
                "people by email",
            )
        if user is None and not platform.provisions_users:
            raise LaunchRefused(
                N_("Vern has no account for %(email)s. Ask HR to add you."),
                f"unknown person {email} from {platform.issuer} (not trusted to provision)",
                email=email,
            )
        if user is None:
            user = _provision(session, platform, claims, email, now)
        session.add(
            LtiUserLink(platform_id=platform.id, subject=subject, user_id=user.id, created_at=now)
        )
        session.flush()
    if not user.active:
        raise LaunchRefused(
            N_("Your Vern account is not active. Ask HR."),
            f"inactive user {user.id} launched from {platform.issuer}",
        )
    # A platform's word is enough for a learner's course, never for an account that reads or
    # changes other people's records (links made before this rule included).
    if user.roles & PRIVILEGED:
        raise LaunchRefused(
            N_(
                "Accounts with admin, HR or auditor rights sign in to Vern directly, not "
                "through an LMS."
            ),
            f"launch as privileged user {user.id} from {platform.issuer} refused",
        )
    return user


def _course_is_theirs(session: Session, user: User, course_id: int, now: datetime) -> bool:
    assign_courses(session, now, user=user)  # someone new gets their courses now, not later
    return bool(
        session.scalar(
            select(
                exists().where(
                    Assignment.user_id == user.id,
                    Assignment.course_id == course_id,
                    Assignment.superseded_at.is_(None),
                    Assignment.ended_at.is_(None),
                )
            )
        )
    )


def accept(
    session: Session, platform: LtiPlatform, claims: dict[str, Any], now: datetime
) -> AcceptedLaunch:
    """Everything a resource launch does in the database (after `consume_nonce`);
    LaunchRefused changes nothing worth keeping (the request rolls back)."""
    course_key = course_of(claims)
    known = {course.key: course.id for course, _ in current_courses(session)}
    if course_key is None or course_key not in known:
        raise LaunchRefused(
            N_(
                "This link in your LMS does not point to a Vern course. Ask the person who "
                "set up the course in your LMS to pick it again."
            ),
            f"launch for unknown course {course_key!r} from {platform.issuer}",
        )
    user = person_for(session, platform, claims, now)
    if not _course_is_theirs(session, user, known[course_key], now):
        raise LaunchRefused(
            N_(
                "This course is not part of your required training in Vern, so there is "
                "nothing to do here. Ask your administrator if you think it should be."
            ),
            f"user {user.id} launched {course_key}, which is not required of them",
        )
    ags = claims.get(AGS_ENDPOINT)
    ags = ags if isinstance(ags, dict) else {}
    resource = claims.get(LTI + "resource_link")
    context = claims.get(LTI + "context")
    launch = LtiLaunch(
        platform_id=platform.id,
        user_id=user.id,
        course_key=course_key,
        deployment_id=str(claims.get(LTI + "deployment_id") or ""),
        context_id=str(context.get("id"))[:255] if isinstance(context, dict) else None,
        resource_link_id=str(resource.get("id"))[:255] if isinstance(resource, dict) else None,
        lineitem_url=ags.get("lineitem") if isinstance(ags.get("lineitem"), str) else None,
        ags_scopes=[s for s in ags.get("scope", []) if isinstance(s, str)],
        subject=str(claims.get("sub")),
        launched_at=now,
    )
    session.add(launch)
    session.flush()
    return AcceptedLaunch(user, course_key, launch)


def record_in_course(
    session: Session, endpoint: str, arguments: dict[str, Any], course_key: str
) -> bool:
    """Whether the attempt or signature a page shows belongs to `course_key` (the views check
    separately that it is the person's own)."""
    if endpoint == "training.confirmation":
        key = session.scalar(
            select(Attestation.course_key).where(Attestation.id == arguments.get("attestation_id"))
        )
    else:
        key = session.scalar(
            select(Course.key)
            .join(Assignment, Assignment.course_id == Course.id)
            .join(QuizAttempt, QuizAttempt.assignment_id == Assignment.id)
            .where(QuizAttempt.id == arguments.get("attempt_id"))
        )
    return key == course_key
