"""Email me a sign-in link, and Forgot password: pages under /login/link and /password.

The mails go through the outbox, which lives in lms.reminders, a layer above this package.
Rather than reach up, these views use the one narrow callable the app factory hands them
(`app.extensions["lms.queue_mail"]`, see lms/__init__.py): people asks for "this kind of mail,
under this key, with this payload" and knows nothing else about the outbox.

A link's page never uses the link on GET: mail scanners (Microsoft Defender Safe Links and
the like) open every link in a mail, so only the page's POST button signs in or saves."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any, Protocol

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session

from lms import clock
from lms.audit.service import record
from lms.errors import mark_rollback
from lms.extensions import db_session, local_path, settings, write_after_outcome
from lms.people import service, sign_in_links, throttle
from lms.people.forms import CsrfOnlyForm
from lms.people.link_forms import EmailLinkForm, NewPasswordForm
from lms.people.models import LinkPurpose, SignInToken, User
from lms.people.signing_in import landing, sign_in
from lms.people.sso.service import password_refused_by

bp = Blueprint("sign_in_links", __name__)
log = logging.getLogger(__name__)

REQUEST_TEMPLATE = {
    LinkPurpose.SIGN_IN: "people/link_request.html",
    LinkPurpose.PASSWORD_RESET: "people/password_forgot.html",
}


class QueueMail(Protocol):
    """Put one mail in the outbox under a unique key (given by the app factory)."""

    def __call__(
        self, session: Session, *, key: str, kind: str, payload: dict[str, Any], now: datetime
    ) -> bool: ...


def _queue_mail() -> QueueMail:
    queue: QueueMail = current_app.extensions["lms.queue_mail"]
    return queue


def _client_ip() -> str | None:
    return request.remote_addr


def _next() -> str | None:
    """The same-site page the person was on their way to (a course from a reminder mail)."""
    return local_path(request.args.get("next"))


@bp.route("/login/link", methods=["GET", "POST"])
def request_link() -> ResponseReturnValue:
    """Email me a sign-in link."""
    return _request(LinkPurpose.SIGN_IN)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    """Forgot password: mail a link to a page that sets a new one."""
    return _request(LinkPurpose.PASSWORD_RESET)


def _request(purpose: LinkPurpose) -> ResponseReturnValue:
    if current_user.is_authenticated and purpose is LinkPurpose.SIGN_IN:
        return redirect(landing(_next()))
    form = EmailLinkForm()
    if not form.is_submitted() and request.args.get("email"):
        form.email.data = request.args["email"]  # from the sign-in page an invitation opened
    template = REQUEST_TEMPLATE[purpose]
    if not form.validate_on_submit():
        if form.is_submitted():
            mark_rollback()
        return render_template(template, form=form, next=_next())
    db, now, ip = db_session(), clock.now(), _client_ip()
    email = form.email.data or ""
    try:
        throttle.check(db, email, ip, now, throttle.policy_from(settings()))
    except throttle.Throttled as refused:
        minutes = max(1, math.ceil(refused.retry_after.total_seconds() / 60))
        log.warning("%s requests throttled for %s more minutes (client %s)", purpose, minutes, ip)
        page = render_template(template, form=form, next=_next(), throttled_minutes=minutes)
        return page, 429, {"Retry-After": str(int(refused.retry_after.total_seconds()) + 1)}
    # Each request counts like a failed sign-in, so nobody can fill a mailbox with links or
    # try address after address faster than they could try passwords.
    throttle.note_failure(db, email, ip, now)
    provider = password_refused_by(db, email)
    if provider is not None:
        # Decided by the address's domain alone, so it says nothing about any account.
        record(db, action=f"{purpose}.requested", now=now, ip=ip, email=email, sent=False)
        return render_template("people/use_provider.html", provider=provider, next=_next())
    _send_link(db, purpose, email, now, ip)
    # The same page whether or not the address is anyone's: the reply tells nobody who has
    # an account (ASVS 2.5.x asks the same of credential recovery).
    return render_template("people/link_sent.html", purpose=str(purpose), email=email)


def _send_link(
    db: Session, purpose: LinkPurpose, email: str, now: datetime, ip: str | None
) -> None:
    user = service.user_by_email(db, email)
    action = f"{purpose}.requested"
    if user is None or not user.active:
        record(db, action=action, now=now, ip=ip, email=email, sent=False)
        return
    link = sign_in_links.issue(
        db, user, purpose, now=now, key=sign_in_links.signing_key(settings()), next_path=_next()
    )
    kind = sign_in_links.MAIL_KIND[purpose]
    # The link's id, never its token; "to" lets My data list the mail among the person's.
    payload: dict[str, Any] = {"link_id": link.id, "to": [user.id]}
    _queue_mail()(db, key=f"{kind}:{link.id}", kind=kind, payload=payload, now=now)
    record(db, action=action, now=now, subject_user_id=user.id, ip=ip, sent=True)


def _refused(purpose: LinkPurpose, reason: str) -> ResponseReturnValue:
    """The page for a link that cannot be used; a POST's refusal is audited even so."""
    if request.method == "POST":
        now, ip = clock.now(), _client_ip()
        write_after_outcome(
            lambda later: record(later, action=f"{purpose}.refused", now=now, ip=ip, reason=reason)
        )
    return render_template("people/link_invalid.html", purpose=str(purpose)), 410


def _sign_in(db: Session, user: User, now: datetime, method: str) -> None:
    """Open a login for `user` the way the password sign-in does (fresh cookie and all)."""
    throttle.forget_account(db, user.email)
    sign_in(db, user, now=now, method=method)


class _ShowInstead(Exception):
    """A link's page cannot be shown; `page` is the answer instead."""

    def __init__(self, page: ResponseReturnValue) -> None:
        super().__init__("the link cannot be used here")
        self.page = page


def _open(db: Session, token: str, purpose: LinkPurpose, now: datetime) -> tuple[SignInToken, User]:
    """The usable link behind `token` and its person, or _ShowInstead with the refusal page,
    or the provider's page where passwords (and with them links) were switched off after the
    link was sent."""
    try:
        link = sign_in_links.find(db, token, purpose, now)
    except sign_in_links.LinkNotValid as error:
        raise _ShowInstead(_refused(purpose, str(error))) from None
    user = db.get_one(User, link.user_id)
    provider = password_refused_by(db, user.email)
    if provider is not None:
        page = render_template("people/use_provider.html", provider=provider, next=link.next_path)
        raise _ShowInstead(page)
    return link, user


@bp.route("/login/link/<token>", methods=["GET", "POST"])
def use_link(token: str) -> ResponseReturnValue:
    """The page a sign-in link opens; its Sign in button (POST) uses the link."""
    db, now = db_session(), clock.now()
    purpose = LinkPurpose.SIGN_IN
    form = CsrfOnlyForm()  # the Sign in button behind the link
    try:
        link, user = _open(db, token, purpose, now)
    except _ShowInstead as instead:
        return instead.page
    if not form.validate_on_submit():
        return render_template("people/link_open.html", form=form, user=user)
    try:
        link = sign_in_links.consume(db, token, purpose, now)
    except sign_in_links.LinkNotValid as error:
        return _refused(purpose, str(error))
    _sign_in(db, user, now, "link")
    return redirect(landing(link.next_path))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    """The page a reset link opens: choose a new password; saving it uses the link."""
    db, now = db_session(), clock.now()
    purpose = LinkPurpose.PASSWORD_RESET
    try:
        link, user = _open(db, token, purpose, now)
    except _ShowInstead as instead:
        return instead.page
    form = NewPasswordForm()
    if form.validate_on_submit() and _save_password(db, token, user, form, now):
        flash(_("Your new password is saved and you are signed in."), "success")
        return redirect(landing(link.next_path))
    if form.is_submitted():
        mark_rollback()
    return render_template("people/password_reset.html", form=form, user=user)


def _save_password(
    db: Session, token: str, user: User, form: NewPasswordForm, now: datetime
) -> bool:
    try:
        used: SignInToken = sign_in_links.consume(db, token, LinkPurpose.PASSWORD_RESET, now)
        # Ends every login the person had (someone may have known the old password) and
        # voids their other links; then this browser gets a fresh login.
        service.reset_password(db, user, form.password.data or "", now)
    except sign_in_links.LinkNotValid:
        form.password.errors = [_("This link was used a moment ago. Ask for a new one.")]
        return False
    record(db, action="password.reset", now=now, actor_id=user.id, subject_user_id=user.id)
    _sign_in(db, db.get_one(User, used.user_id), now, "password_reset")
    return True
