"""Login, logout and personal preferences."""

from __future__ import annotations

import logging
import math

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from lms import clock
from lms.audit.service import record, record_failure
from lms.errors import mark_rollback
from lms.extensions import db_session, local_path, reads_first, settings, write_after_outcome
from lms.people import service, throttle
from lms.people.forms import LoginForm, PreferencesForm
from lms.people.models import User
from lms.people.signing_in import sign_in_and_go
from lms.people.sso import oidc as sso_oidc
from lms.people.sso import service as sso
from lms.people.sso.models import IdentityProvider

bp = Blueprint("people", __name__)
log = logging.getLogger(__name__)


def _client_ip() -> str | None:
    return request.remote_addr


def _throttled(form: LoginForm, refused: throttle.Throttled) -> ResponseReturnValue:
    """The same reply whether or not the account exists; the password was not even checked."""
    minutes = max(1, math.ceil(refused.retry_after.total_seconds() / 60))
    log.warning("sign-in throttled for %s more minutes (client %s)", minutes, _client_ip())
    providers = sso.active_providers(db_session())
    page = render_template(
        "people/login.html", form=form, providers=providers, throttled_minutes=minutes
    )
    headers = {"Retry-After": str(int(refused.retry_after.total_seconds()) + 1)}
    return page, 429, headers


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    # Read and checked without SQLite's write lock (the hash takes a while on purpose); the
    # writes after it hold the lock for milliseconds, so sign-ins do not queue behind hashes.
    with reads_first():
        if current_user.is_authenticated:
            return redirect(url_for("training.my_training"))
        providers = sso.active_providers(db_session())
        submitted = form.validate_on_submit()
        answer, user = _check(form, providers) if submitted else (None, None)
    if answer is not None:
        return answer
    if submitted:
        db, now, email = db_session(), clock.now(), form.email.data or ""
        if user is None:
            throttle.note_failure(db, email, _client_ip(), now)
            record(db, action="login.failed", now=now, ip=_client_ip(), email=email)
            page = render_template(
                "people/login.html", form=form, providers=providers, login_failed=True
            )
            return page, 200
        # Looked at again now that this transaction writes (on SQLite: holds the lock): guesses
        # sent side by side all passed the first look, and those written meanwhile count.
        try:
            throttle.check(db, email, _client_ip(), now, throttle.policy_from(settings()))
        except throttle.Throttled as refused:
            return _throttled(form, refused)
        throttle.forget_account(db, email)
        return sign_in_and_go(db, user, now=now, next_path=request.args.get("next"))
    if not form.is_submitted() and request.args.get("email"):
        form.email.data = request.args["email"][:254]  # an invitation fills in the address
    if form.is_submitted():
        mark_rollback()
        if not form.password.data and not sso.provider_for_email(
            db_session(), form.email.data or ""
        ):
            form.password.errors.append(_("Enter your password."))
    return render_template("people/login.html", form=form, providers=providers)


def _check(
    form: LoginForm, providers: list[IdentityProvider]
) -> tuple[ResponseReturnValue | None, User | None]:
    """A valid form's answer decided before any write (the domain's provider, the throttle),
    else the person with these credentials (None if they are wrong). Only reads."""
    decided = _decided_by_domain(form, providers)
    if decided is not None:
        return decided, None
    db, email = db_session(), form.email.data or ""
    try:
        throttle.check(db, email, _client_ip(), clock.now(), throttle.policy_from(settings()))
    except throttle.Throttled as refused:
        return _throttled(form, refused), None
    try:
        return None, service.authenticate(db, email, form.password.data or "")
    except service.InvalidCredentials:
        return None, None


def _decided_by_domain(
    form: LoginForm, providers: list[IdentityProvider]
) -> ResponseReturnValue | None:
    """Home-realm discovery and passwords off: what the address's domain decides before any
    password is looked at. It depends on the domain only, whether or not the account
    exists, so the answer tells nobody which accounts do."""
    email = form.email.data or ""
    provider = sso.provider_for_email(db_session(), email)
    if provider is not None and not form.password.data:
        return _to_provider(provider, email)
    if provider is not None and provider.passwords_off:
        # Kept although the page rolls back: a refusal is audited, counted per address (the
        # throttle has not looked yet, and anyone can post passwords).
        ip, now, provider_name = _client_ip(), clock.now(), provider.name
        write_after_outcome(
            lambda later: record_failure(
                later,
                action="login.refused",
                now=now,
                kind="passwords off",
                ip=ip,
                latest=("email", "provider_name"),
                cause="passwords off",
                email=email,
                provider_name=provider_name,
            )
        )
        form.password.errors.append(
            _(
                "Passwords are switched off for this address: use “Sign in with %(provider)s”.",
                provider=provider.display_name,
            )
        )
    elif not form.password.data:
        form.password.errors.append(_("Enter your password."))
    else:
        return None
    mark_rollback()
    return render_template("people/login.html", form=form, providers=providers), 200


def _to_provider(provider: IdentityProvider, email: str) -> ResponseReturnValue:
    """Send the person to their company's provider, keeping where they were going."""
    next_path = local_path(request.args.get("next"))
    return redirect(url_for("sso.start", name=provider.name, next=next_path, login_hint=email))


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    db = db_session()
    token = current_user.get_id()
    provider_login = sso.take_login(db, token) if token else None
    if token:
        service.end_login(db, token, clock.now())
    record(
        db,
        action="logout",
        now=clock.now(),
        actor_id=current_user.id,
        subject_user_id=current_user.id,
    )
    logout_user()
    session.clear()
    if provider_login is not None and provider_login[0].end_session_endpoint:
        provider, id_token = provider_login
        # Vern's login is over either way; the provider's is the person's choice.
        provider_logout = sso_oidc.logout_url(
            provider.end_session_endpoint or "",
            id_token=id_token,
            client_id=provider.client_id,
            back=url_for("people.login", _external=True),
        )
        return render_template(
            "sso/signed_out.html", provider=provider, provider_logout=provider_logout
        )
    flash(_("You are signed out."), "info")
    return redirect(url_for("people.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def preferences() -> ResponseReturnValue:
    form = PreferencesForm(obj=current_user)
    is_manager = service.has_reports(db_session(), current_user)
    read_only = service.is_auditor_only(current_user)
    if read_only and request.method == "POST":
        abort(403)  # auditors look; they have no settings or actions of their own
    if form.validate_on_submit():
        service.change_preferences(
            current_user,
            locale=form.locale.data or "en",
            timezone=form.timezone.data or "UTC",
            digest_opt_in=bool(form.digest_opt_in.data) if is_manager else None,
        )
        db_session().flush()
        flash(_("Your preferences are saved."), "success")
        return redirect(url_for("people.preferences"))
    return render_template(
        "people/preferences.html", form=form, is_manager=is_manager, read_only=read_only
    )
