"""Sign-in link and password reset mails: rendered at send time from the link's row.

The outbox row holds only the link's id; the token is recomputed here from the row's salt
and the secret key (lms.people.sign_in_links), so no usable link sits in the outbox. A link
that was used, voided or has expired by the time the sender gets to it is skipped: the mail
would only lead to an error page."""

from __future__ import annotations

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from lms import clock
from lms.config import Settings
from lms.mail import OutgoingMail, sender_address
from lms.people import sign_in_links
from lms.people.models import LinkPurpose, SignInToken, User
from lms.reminders.mails import SkipMessage
from lms.reminders.models import OutboxMessage

KINDS = tuple(sign_in_links.MAIL_KIND.values())
# The page each link opens, and the one that asks for a new link (lms.people.link_views).
PATH_FOR = {
    LinkPurpose.SIGN_IN: "/login/link/",
    LinkPurpose.PASSWORD_RESET: "/password/reset/",
}
REQUEST_PATH_FOR = {
    LinkPurpose.SIGN_IN: "/login/link",
    LinkPurpose.PASSWORD_RESET: "/password/forgot",
}


def render(session: Session, message: OutboxMessage, settings: Settings) -> OutgoingMail:
    """The mail for a sign_in_link or password_reset row, or SkipMessage."""
    link = session.get(SignInToken, message.payload["link_id"])
    if link is None:
        raise SkipMessage("the link no longer exists")
    if not sign_in_links.usable(link, clock.now()):
        raise SkipMessage("the link was used, made void or expired before it was sent")
    user = session.get(User, link.user_id)
    if user is None or not user.active:
        raise SkipMessage("the person is no longer active")
    purpose = LinkPurpose(link.purpose)
    token = sign_in_links.token_for(link, sign_in_links.signing_key(settings))
    minutes = int(sign_in_links.LIFETIMES[purpose].total_seconds() // 60)
    with force_locale(user.locale):
        if purpose is LinkPurpose.SIGN_IN:
            subject, template = _("Your sign-in link for Vern"), "sign_in_link"
        else:
            subject, template = _("Set a new password for Vern"), "password_reset"
        context = {
            "recipient": user,
            "link_url": f"{settings.base_url}{PATH_FOR[purpose]}{token}",
            "minutes": minutes,
            "request_url": f"{settings.base_url}{REQUEST_PATH_FOR[purpose]}",
        }
        return OutgoingMail(
            message_id=message.message_id,
            sender=sender_address(settings.mail_from_name, settings.mail_from),
            to=(user.email,),
            cc=(),
            subject=subject,
            text=render_template(f"email/{template}.txt", **context),
            html=render_template(f"email/{template}.html", **context),
        )
