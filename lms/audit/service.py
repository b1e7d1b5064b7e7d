"""Writing audit events (callers pass who, what and about whom), and the latest of a kind."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.db import HELD_BACK_AUDIT

# The client address of the request being served: the web app sets it around every request
# (lms.__init__), so each event written while serving one carries the address although this
# package knows nothing of Flask and most callers pass none.
CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("audit_client_address", default=None)
# Failures nobody signed in for (bad bearer tokens, refused LTI logins) are counted, not
# written one row each: per action, client address and kind, one row per window; and past
# MAX_FAILURE_SOURCES addresses in a window, the rest share one row (MANY_SOURCES).
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURE_SOURCES = 100
MANY_SOURCES = "(many addresses)"


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


def _failure_row(
    session: Session, action: str, source: str | None, kind: str, since: datetime
) -> AuditEvent | None:
    """This window's row for one kind of failure from one source, locked for the count."""
    query = select(AuditEvent).where(
        AuditEvent.action == action,
        AuditEvent.at >= since,
        AuditEvent.ip.is_(None) if source is None else AuditEvent.ip == source,
        AuditEvent.detail["kind"].as_string() == kind,
    )
    return session.scalars(query.order_by(AuditEvent.id.desc()).limit(1).with_for_update()).first()


def record_failure(
    session: Session,
    *,
    action: str,
    now: datetime,
    kind: str,
    ip: str | None = None,
    latest: tuple[str, ...] = (),
    **detail: Any,
) -> AuditEvent:
    """Audit an unauthenticated failure so that a flood cannot fill the table: a repeat of
    the same kind from the same address within FAILURE_WINDOW adds to its row's `count`
    (and `last_at`); `detail` is kept from the first one, except the `latest` keys, which
    take the repeat's values. Written at once, never held back."""
    source = ip if ip is not None else CLIENT_ADDRESS.get()
    since = now - FAILURE_WINDOW
    event = _failure_row(session, action, source, kind, since)
    if event is None:
        sources = session.scalar(
            select(func.count(func.distinct(AuditEvent.ip))).where(
                AuditEvent.action == action,
                AuditEvent.at >= since,
                AuditEvent.detail["kind"].as_string().is_not(None),
            )
        )
        if (sources or 0) >= MAX_FAILURE_SOURCES:
            source = MANY_SOURCES
            event = _failure_row(session, action, source, kind, since)
    if event is not None:
        count = int(event.detail.get("count", 1)) + 1
        fresh = {key: detail[key] for key in latest if key in detail}
        event.detail = {**event.detail, **fresh, "count": count, "last_at": now.isoformat()}
    else:
        event = AuditEvent(
            at=now, action=action, ip=source, detail={**detail, "kind": kind, "count": 1}
        )
        session.add(event)
    session.flush()
    return event
