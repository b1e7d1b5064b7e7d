"""What every way in (password, sign-in link, password reset, single sign-on, LTI launch) does
once it knows who the person is: open a server-side login, audit it, give the browser a fresh
cookie, and send it on to a page of this site."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import redirect, request, session, url_for
from flask_login import login_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from lms.audit.service import record
from lms.extensions import local_path, settings
from lms.people import service
from lms.people.models import User


def landing(next_path: str | None) -> str:
    """Where a signed-in person goes: `next_path` if it is a page of this site (never another
    site: no open redirect), else their training."""
    return local_path(next_path) or url_for("training.my_training")


def sign_in(
    db: Session,
    user: User,
    *,
    now: datetime,
    action: str = "login",
    course_scope: str | None = None,
    **detail: Any,
) -> service.LoginStarted:
    """Open a login for `user` in this browser and audit it as `action` with `detail` (how they
    signed in); the cookie is a fresh one, so nothing from before the login (fixation)
    survives."""
    started = service.start_login(
        db,
        user,
        now=now,
        lifetime=timedelta(hours=settings().session_hours),
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        course_scope=course_scope,
    )
    record(
        db,
        action=action,
        now=now,
        actor_id=user.id,
        subject_user_id=user.id,
        ip=request.remote_addr,
        **detail,
    )
    session.clear()
    session.permanent = True
    login_user(user, remember=False)
    return started


def sign_in_and_go(
    db: Session, user: User, *, now: datetime, next_path: str | None, **detail: Any
) -> Response:
    """Sign `user` in (see sign_in) and send the browser on to `next_path` (see landing)."""
    sign_in(db, user, now=now, **detail)
    return redirect(landing(next_path))
