"""Writing audit events; callers pass who, what and about whom."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent


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
    """Append one audit event in the caller's transaction."""
    event = AuditEvent(
        at=now,
        actor_id=actor_id,
        action=action,
        subject_user_id=subject_user_id,
        detail=detail,
        ip=ip,
    )
    session.add(event)
    session.flush()
    return event
