"""Who may see whom. Enforced inside the queries: a manager's queries are scoped to their
reporting line, so a foreign id simply finds nothing."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from lms.people.models import Role, User
from lms.people.service import reporting_line

ORGANISATION_ROLES = (Role.HR, Role.AUDITOR, Role.ADMIN)


def sees_organisation(viewer: User) -> bool:
    return any(viewer.has_role(role) for role in ORGANISATION_ROLES)


def in_scope(viewer: User, *, organisation: bool) -> ColumnElement[bool]:
    """SQL condition on User.id for the people this viewer may see in this view: everyone
    for HR/auditor/admin in an organisation view, otherwise the viewer's reporting line."""
    if organisation and sees_organisation(viewer):
        return true()
    return User.id.in_(reporting_line(viewer.id))


def person_in_scope(
    session: Session, viewer: User, user_id: int, *, organisation: bool
) -> User | None:
    """The person if this viewer may see them in this view, else None (looks like missing)."""
    return session.scalar(
        select(User).where(User.id == user_id, in_scope(viewer, organisation=organisation))
    )


def is_manager(session: Session, viewer: User) -> bool:
    return bool(session.scalar(select(User.id).where(User.manager_id == viewer.id).limit(1)))
