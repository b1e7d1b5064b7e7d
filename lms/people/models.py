"""People: departments, users, their roles and reporting lines, and login sessions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, UTCDateTime


class Role(StrEnum):
    """Granted roles; everyone is an employee and a manager is anyone with reports."""

    HR = "hr"
    ADMIN = "admin"
    AUDITOR = "auditor"  # reads what HR reads; changes nothing


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (Index("ix_departments_external_id", "external_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Merged departments stay (archived) so course audiences naming them keep working.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # A provisioning system's id for the group this department stands for (SCIM externalId).
    external_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<Department {self.key}>"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_external_id", "external_id", unique=True),
        Index("ix_users_scim_user_name", "scim_user_name", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # The HR system's or identity provider's id for the person (SCIM externalId); unique by
    # an index, which SQLite can add to an existing table without rebuilding it.
    external_id: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    start_date: Mapped[date | None] = mapped_column(Date, index=True)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Oslo")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the person last left (inactive); point-in-time reports need it.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A manager's choice: one weekly digest about their reporting line instead of single mails.
    digest_opt_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What a provisioning system (SCIM) sent, kept so it reads back as sent. Vern itself
    # works from email, full_name and locale, which are derived from these.
    scim_user_name: Mapped[str | None] = mapped_column(String(255))
    formatted_name: Mapped[str | None] = mapped_column(String(200))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(200))
    email_type: Mapped[str | None] = mapped_column(String(32))
    email_primary: Mapped[bool | None] = mapped_column(Boolean)
    preferred_language: Mapped[str | None] = mapped_column(String(64))
    employee_number: Mapped[str | None] = mapped_column(String(64))
    # DELETE through SCIM: the person is gone for the provisioning system (404 from then on)
    # and deactivated in Vern, while their training history stays as evidence.
    scim_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the person's first invitation (welcome mail) was queued; None: still owed one. The
    # sweep invites whoever is owed one, so every way a person comes in is covered.
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    department: Mapped[Department | None] = relationship(lazy="joined")
    manager: Mapped[User | None] = relationship(remote_side=[id])
    role_grants: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(grant.role) for grant in self.role_grants)

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    # Flask-Login protocol. The id Flask-Login keeps in the cookie is the login-session token,
    # not the user id, so ending the login session on the server ends it everywhere.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        token = self.__dict__.get("_login_token")
        return token if isinstance(token, str) else None

    def attach_login_token(self, token: str, course_scope: str | None = None) -> None:
        """Remember, for this request only, which login session loaded this user (and the one
        course it is limited to, for a login opened by an LTI launch)."""
        self.__dict__["_login_token"] = token  # not columns: never persisted
        self.__dict__["_course_scope"] = course_scope

    @property
    def course_scope(self) -> str | None:
        scope = self.__dict__.get("_course_scope")
        return scope if isinstance(scope, str) else None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class LoginSession(Base):
    """A server-side record of one login, so logout and deactivation really end it."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Last request seen, to the minute; the idle timeout counts from here.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    # Opened by an LTI launch: this login reaches only the course that was launched.
    course_scope: Mapped[str | None] = mapped_column(String(64))


class LoginFailure(Base):
    """One failed sign-in, kept for the throttling window; shared by every worker process.

    The account is stored as a hash of the normalised address: the table only has to count,
    and a list of addresses someone tried is nothing Vern needs to hold."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    account_key: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str | None] = mapped_column(String(64), index=True)


class LinkPurpose(StrEnum):
    """What a single-use link mailed to a person lets them do."""

    SIGN_IN = "sign_in"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a password


class SignInToken(Base):
    """One single-use link mailed to a person: sign in, or set a new password.

    Only a hash of the token is stored. The token itself is an HMAC of `salt` under a key
    derived from the app's secret key, so the mail renderer recomputes it at send time and
    neither this table nor the outbox ever holds a usable link."""

    __tablename__ = "sign_in_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    salt: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A newer link, a sign-in, a deactivation or a password change makes older links void.
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Where the person was going (a course from a reminder mail), a same-site path.
    next_path: Mapped[str | None] = mapped_column(String(500))
