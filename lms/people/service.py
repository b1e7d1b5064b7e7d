"""People and login services: take a Session and plain values, flush, never commit."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, exists, func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from lms.catalog.definition import RESERVED_AUDIENCE_WORDS
from lms.catalog.loader import KEY_PATTERN
from lms.people import sign_in_links
from lms.people.models import Department, LoginSession, Role, User, UserRole
from lms.people.passwords import MIN_PASSWORD_LENGTH, PasswordProblem, password_problem

# werkzeug's memory-hard default; tests swap in a cheap one.
PASSWORD_METHOD = "scrypt"  # noqa: S105 - a hashing method, not a password
# A real hash to compare against when the email is unknown, so a wrong email and a wrong
# password take the same time and cannot be told apart.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


class PeopleError(Exception):
    """A request about people that cannot be carried out; the message is safe to show."""


class DuplicateEmail(PeopleError):
    pass


class ReportingCycle(PeopleError):
    pass


class WeakPassword(PeopleError):
    pass


class InvalidCredentials(PeopleError):
    pass


class LastActiveAdmin(PeopleError):
    """The change would leave Vern without an active admin: nobody could give the role back."""


@dataclass(frozen=True)
class LoginStarted:
    token: str
    expires_at: datetime


def email_problem(value: str) -> str | None:
    """Why `value` cannot be someone's address, or None. Syntax only: nothing is looked up,
    and .test addresses (tests, demos) are fine."""
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        return str(error)
    return None


def normalise_email(email: str) -> str:
    return email.strip().lower()


class InvalidDepartmentKey(PeopleError):
    pass


def normalise_name(full_name: str) -> str:
    """A name with single spaces, so the same person typed twice compares equal."""
    return " ".join(full_name.split())


def is_department_key(key: str) -> bool:
    """Whether `key` can name a department (course audiences refer to departments by key)."""
    return bool(KEY_PATTERN.match(key)) and key not in RESERVED_AUDIENCE_WORDS


def get_or_create_department(session: Session, key: str, name: str) -> Department:
    """Find a department by key, creating it with `name` if it does not exist yet."""
    department = session.scalar(select(Department).where(Department.key == key))
    if department is None:
        if not is_department_key(key):
            raise InvalidDepartmentKey(
                f"{key!r} cannot be a department key: use lower-case letters, digits and "
                "hyphens, and not the words 'all' or 'managers' (course audiences use them)"
            )
        department = Department(key=key, name=name)
        session.add(department)
        session.flush()
    return department


def _key_for_name(session: Session, name: str) -> str:
    """A free department key made from a name: 'Customer Success' -> 'customer-success'."""
    base = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", name).lower()).strip("-")
    base = base[:56].strip("-") or "department"
    if base in RESERVED_AUDIENCE_WORDS:
        base = f"dept-{base}"[:56]
    key, number = base, 1
    while session.scalar(select(exists().where(Department.key == key))):
        number += 1
        key = f"{base}-{number}"
    return key


def department_for_name(session: Session, name: str, now: datetime) -> Department:
    """The department a provisioning system means by `name` (its name or key, any case),
    created if there is none. A merged department leads to the one it was merged into; an
    archived one is brought back, since someone is in it again."""
    name = " ".join(name.split())
    department = session.scalar(
        select(Department)
        .where(or_(func.lower(Department.name) == name.lower(), Department.key == name.lower()))
        .order_by(Department.archived_at.is_not(None), Department.id)
        .limit(1)
    )
    while department is not None and department.merged_into_id is not None:
        department = session.get_one(Department, department.merged_into_id)
    if department is None:
        department = Department(
            key=_key_for_name(session, name), name=name, created_at=now, updated_at=now
        )
        session.add(department)
    elif department.archived_at is not None:
        department.archived_at = None
        department.updated_at = now
    session.flush()
    return department


def create_user(
    session: Session,
    *,
    email: str,
    full_name: str,
    now: datetime,
    department: Department | None = None,
    manager: User | None = None,
    start_date: date | None = None,
    locale: str = "en",
    timezone: str = "Europe/Oslo",
    password: str | None = None,
    roles: frozenset[Role] = frozenset(),
    external_id: str | None = None,
) -> User:
    """Create an active user; the email must be unused."""
    email = normalise_email(email)
    if session.scalar(select(exists().where(User.email == email))):
        raise DuplicateEmail(f"A user with email {email} already exists")
    user = User(
        external_id=external_id,
        email=email,
        full_name=normalise_name(full_name),
        department=department,
        manager=manager,
        start_date=start_date,
        locale=locale,
        timezone=timezone,
        active=True,
        created_at=now,
    )
    user.role_grants = [UserRole(role=str(role)) for role in sorted(roles)]
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user


def update_details(
    session: Session,
    user: User,
    *,
    email: str,
    full_name: str,
    department: Department | None,
    start_date: date | None,
    locale: str,
    external_id: str | None,
) -> None:
    """Set a person's HR details (an import, a provisioning system); the email must be unused."""
    email = normalise_email(email)
    if email != user.email and session.scalar(select(exists().where(User.email == email))):
        raise DuplicateEmail(f"A user with email {email} already exists")
    user.email = email
    user.full_name = normalise_name(full_name)
    user.department = department
    user.start_date = start_date
    user.locale = locale
    user.external_id = external_id
    session.flush()


def set_manager(session: Session, user: User, manager: User | None) -> None:
    """Change a user's manager, refusing a reporting chain that would loop."""
    cursor = manager
    while cursor is not None:
        if cursor.id == user.id:
            raise ReportingCycle(f"{user.full_name} cannot report to someone in their own line")
        cursor = cursor.manager
    user.manager = manager
    session.flush()


def active_admin_ids(session: Session) -> list[int]:
    """Who is an active admin now. On PostgreSQL their rows stay locked until the end of the
    transaction, so two people taking away two different admins at once cannot each count
    the other one as the admin who remains: the second waits for the first one's locks, and
    then counts again (the locking read answers from before it waited, when the first one's
    admin still was one; the next statement sees what the first one committed)."""
    admins = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == str(Role.ADMIN), User.active.is_(True))
        .order_by(User.id)
    )
    session.scalars(admins.with_for_update(of=User)).all()
    return list(session.scalars(admins))


def keep_an_active_admin(session: Session, user: User) -> None:
    """Refuse (LastActiveAdmin) to let `user` stop being an active admin if nobody else is."""
    if user.active and user.has_role(Role.ADMIN) and active_admin_ids(session) == [user.id]:
        raise LastActiveAdmin(f"{user.email} is the only active admin")


def set_roles(session: Session, user: User, roles: frozenset[Role]) -> None:
    """Give `user` exactly `roles`; taking admin from the last active admin is refused."""
    if Role.ADMIN not in roles:
        keep_an_active_admin(session, user)
    user.role_grants = [UserRole(role=str(role)) for role in sorted(roles)]
    session.flush()


def deactivate(session: Session, user: User, now: datetime) -> None:
    """A leaver: cannot log in, is not chased, keeps their history; every session ends now.
    The last active admin cannot leave (LastActiveAdmin)."""
    keep_an_active_admin(session, user)
    if user.active:
        user.active = False
        user.deactivated_at = now
        end_all_logins(session, user, now)
        sign_in_links.void_outstanding(session, user.id, now)
        session.flush()


def reactivate(session: Session, user: User) -> None:
    user.active = True
    user.deactivated_at = None
    session.flush()


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def reset_password(session: Session, user: User, password: str, now: datetime) -> None:
    """A new password (set by an operator, or by the person from a reset link): every
    existing login of the person ends and their unused sign-in and reset links are void."""
    set_password(user, password)
    end_all_logins(session, user, now)
    sign_in_links.void_outstanding(session, user.id, now)
    session.flush()


def set_password(user: User, password: str) -> None:
    """Store a hash of `password` if the password rules (lms.people.passwords) allow it."""
    problem = password_problem(password)
    if problem is PasswordProblem.TOO_SHORT:
        raise WeakPassword(f"A password needs at least {MIN_PASSWORD_LENGTH} characters")
    if problem is PasswordProblem.TOO_COMMON:
        raise WeakPassword("This password is one of the most common ones: choose another")
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)


def authenticate(session: Session, email: str, password: str) -> User:
    """Return the active user with these credentials or raise InvalidCredentials."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    password_ok = check_password_hash(stored, password)
    if user is None or not user.password_hash or not password_ok or not user.active:
        raise InvalidCredentials("Wrong email or password")
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def start_login(
    session: Session,
    user: User,
    *,
    now: datetime,
    lifetime: timedelta,
    ip: str | None,
    user_agent: str | None,
    course_scope: str | None = None,
) -> LoginStarted:
    """Open a new server-side login session; only its hash is stored. With `course_scope`
    (an LTI launch) the login reaches that one course only. Any sign-in (password, link,
    single sign-on, LTI) makes the person's unused sign-in and reset links void."""
    sign_in_links.void_outstanding(session, user.id, now)
    token = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    session.add(
        LoginSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=expires_at,
            ip=ip,
            user_agent=(user_agent or "")[:400] or None,
            course_scope=course_scope,
        )
    )
    session.flush()
    user.attach_login_token(token, course_scope)
    return LoginStarted(token=token, expires_at=expires_at)


# Writing last_seen_at on every request would turn each page view into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def user_for_login(
    session: Session,
    token: str,
    now: datetime,
    *,
    idle: timedelta | None = None,
    write_later: Callable[[Callable[[Session], object]], None] | None = None,
) -> User | None:
    """The active user behind a live login-session token, or None if it ended, expired or,
    with `idle`, went unused for that long (ASVS 3.3.2). Noting when the login was last used
    is handed to `write_later` if given (a page view writes after its reads)."""
    conditions = [
        LoginSession.token_hash == _token_hash(token),
        LoginSession.ended_at.is_(None),
        LoginSession.expires_at > now,
        User.active.is_(True),
    ]
    if idle is not None:
        last_seen = func.coalesce(LoginSession.last_seen_at, LoginSession.created_at)
        conditions.append(last_seen > now - idle)
    row = session.execute(
        select(LoginSession, User).join(User, User.id == LoginSession.user_id).where(*conditions)
    ).first()
    if row is None:
        return None
    login, user = row
    if login.last_seen_at is None or now - login.last_seen_at >= LAST_SEEN_RESOLUTION:
        if write_later is None:
            login.last_seen_at = now
        else:
            login_id = login.id
            write_later(lambda later: touch_login(later, login_id, now))
    user.attach_login_token(token, login.course_scope)
    return user


def touch_login(session: Session, login_id: int, now: datetime) -> None:
    """Note that a login was used now (the idle timeout counts from here)."""
    session.execute(
        update(LoginSession).where(LoginSession.id == login_id).values(last_seen_at=now)
    )


def end_login(session: Session, token: str, now: datetime) -> None:
    """End one login session (logout)."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.token_hash == _token_hash(token), LoginSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def end_all_logins(session: Session, user: User, now: datetime) -> None:
    """End every login session of a user (deactivation, password change)."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def reporting_line(manager_id: int) -> Select[tuple[int]]:
    """SELECT of the ids of everyone below the manager, any depth (recursive CTE)."""
    line = select(User.id).where(User.manager_id == manager_id).cte("line", recursive=True)
    line = line.union(select(User.id).join(line, User.manager_id == line.c.id))
    return select(line.c.id)


def reporting_line_ids(session: Session, manager_id: int) -> list[int]:
    """Ids of everyone who reports to the manager, directly or indirectly, any depth."""
    return list(session.scalars(reporting_line(manager_id)))


def users_with_role(session: Session, role: Role) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == str(role), User.active.is_(True))
            .order_by(User.id)
        )
    )


def is_auditor_only(user: User) -> bool:
    """An auditor without HR or admin duties: may read, may not change anything."""
    return user.has_role(Role.AUDITOR) and not (user.has_role(Role.HR) or user.has_role(Role.ADMIN))


def has_reports(session: Session, user: User) -> bool:
    return bool(session.scalar(select(exists().where(User.manager_id == user.id))))


def change_preferences(
    user: User, *, locale: str, timezone: str, digest_opt_in: bool | None = None
) -> None:
    user.locale = locale
    user.timezone = timezone
    if digest_opt_in is not None:
        user.digest_opt_in = digest_opt_in
