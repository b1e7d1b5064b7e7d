"""Writing audit events (callers pass who, what and about whom), and the latest of a kind."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.db import HELD_BACK_AUDIT

# The client address of the request being served: the web app sets it around every request
# (lms.__init__), so each event written while serving one carries the address although this
# package knows nothing of Flask and most callers pass none.
CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("audit_client_address", default=None)


def recent_events(session: Session, action: str, limit: int) -> list[AuditEvent]:
    """The latest `limit` events of one kind, newest first (an admin page's "lately" list)."""
    query = select(AuditEvent).where(AuditEvent.action == action)
    return list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))


def record(
    session: Session,
    *,
    action: str,
    now: datetime,
    actor_id: int | None = None,
    subject_user_id: int | None = None,
    ip: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append one audit event in the caller's transaction; a session that holds its events
    back (a page view's, see lms.db.hold_back_audit) gets them written right after its commit.
    Without `ip`, the address of the request being served (CLIENT_ADDRESS), if any."""
    event = AuditEvent(
        at=now,
        actor_id=actor_id,
        action=action,
        subject_user_id=subject_user_id,
        detail=detail,
        ip=ip if ip is not None else CLIENT_ADDRESS.get(),
    )
    deferred = session.info.get(HELD_BACK_AUDIT)
    if deferred is not None:
        deferred.append(event)
    else:
        session.add(event)
    return event
