"""Signing in through an OpenID provider: send the browser there, take it back, sign in."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from lms import clock
from lms.audit.service import record, record_failure
from lms.db import SQLITE_BEGIN
from lms.extensions import (
    database,
    db_session,
    end_transaction,
    local_path,
    settings,
    write_after_outcome,
)
from lms.people import crypto
from lms.people.outbound import Policy
from lms.people.signing_in import landing, sign_in
from lms.people.sso import oidc, service
from lms.people.sso.models import IdentityProvider

bp = Blueprint("sso", __name__, url_prefix="/sso")
log = logging.getLogger(__name__)
# The browser that started a sign-in carries the hash of its state in its (signed) cookie:
# a callback URL someone else started (login CSRF) finds no match there.
STATE_KEY = "sso_state"
BROWSER_FLOWS = 3


def _secret_key() -> tuple[str, ...]:
    return crypto.current_keys()


def _callback_url() -> str:
    return url_for("sso.callback", _external=True)


@bp.route("/<name>/start")
def start(name: str) -> ResponseReturnValue:
    """Send the browser to the provider (Authorization Code flow with PKCE)."""
    db = db_session()
    provider = service.provider_by_name(db, name)
    if provider is None or not provider.active:
        abort(404)
    try:
        config = service.config_for(
            provider, _secret_key(), policy=Policy.from_settings(settings())
        )
    except crypto.SecretUnreadable:
        log.error("client secret of provider %s unreadable: was the secret key changed?", name)
        return _refused("secret", provider_name=name, status=503)
    flow = oidc.new_flow_secrets()
    service.begin_flow(
        db, provider, flow, next_path=local_path(request.args.get("next")), now=clock.now()
    )
    # A few at once: a second tab or a double click must not void the first sign-in.
    earlier = _started_states()[-(BROWSER_FLOWS - 1) :]
    session[STATE_KEY] = [*earlier, service.state_hash(flow.state)]
    hint = (request.args.get("login_hint") or "").strip()[:254] or None
    return redirect(oidc.authorization_url(config, flow, _callback_url(), login_hint=hint))


def _refused(
    cause: str, *, status: int = 400, not_set_up: bool = False, **detail: Any
) -> tuple[str, int]:
    """A page saying the sign-in did not happen, and an audit event saying why: counted per
    address and cause (anyone can call the callback), the latest details kept."""
    now = clock.now()
    ip = request.remote_addr

    def note(later: Session) -> None:
        record_failure(
            later,
            action="sso.refused",
            now=now,
            kind=cause,
            ip=ip,
            latest=tuple(detail),
            cause=cause,
            **detail,
        )

    db_session()  # the request's session runs the write after its outcome
    write_after_outcome(note)
    log.warning("single sign-on refused: %s %s", cause, detail)
    template = "sso/not_set_up.html" if not_set_up else "sso/failed.html"
    return render_template(template), status


def _claims(
    config: oidc.ProviderConfig, code: str, claimed: service.ClaimedFlow
) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """Exchange the code and check the id_token: (claims, id_token, key set if refetched)."""
    tokens = oidc.exchange_code(config, code, _callback_url(), claimed.code_verifier)
    id_token = str(tokens["id_token"])
    refetched = None
    try:
        claims = oidc.verify_signature(id_token, config.key_set)
    except oidc.UnknownKey:
        # Providers rotate their signing keys: fetch the set once more, then give up.
        refetched = oidc.fetch_key_set(config)
        claims = oidc.verify_signature(id_token, refetched)
    oidc.check_claims(config, claims, nonce=claimed.nonce, now=clock.now())
    return claims, id_token, refetched


def _started_states() -> list[str]:
    """The hashed states of the sign-ins this browser has under way."""
    started = session.get(STATE_KEY)
    if not isinstance(started, list):
        return []
    return [value for value in started if isinstance(value, str)]


def _started_here(state: str) -> bool:
    """Whether this browser started the sign-in with this state (and forget it: used once)."""
    hashes = _started_states()
    wanted = service.state_hash(state)
    found = any(secrets.compare_digest(wanted, value) for value in hashes)
    session[STATE_KEY] = [value for value in hashes if value != wanted]
    return found


def _claim(state: str) -> tuple[service.ClaimedFlow, oidc.ProviderConfig] | None:
    """Take the flow and read its provider in a transaction of their own, committed before
    the provider is asked anything; None if there is no such flow (any more)."""
    with database().transaction() as claim:
        try:
            claimed = service.claim_flow(claim, state, clock.now())
        except service.FlowInvalid:
            return None
        provider = claim.get(IdentityProvider, claimed.provider_id)
        if provider is None or not provider.active:
            return None
        try:
            config = service.config_for(
                provider, _secret_key(), policy=Policy.from_settings(settings())
            )
        except crypto.SecretUnreadable:
            log.error("client secret of %s unreadable: was the secret key changed?", provider.name)
            return None
    return claimed, config


@bp.route("/callback")
def callback() -> ResponseReturnValue:
    """The provider sends the browser back here with a code (or an error) and the state."""
    # This GET writes (the flow, the login): on SQLite take the write lock when each of its
    # transactions begins, so none loses a write race half-way, after the flow was used up.
    SQLITE_BEGIN.set("IMMEDIATE")
    # The browser's earlier login, if it carries one, was looked up before this view: that
    # read must not stay open across the claim and the provider's answer.
    end_transaction()
    state = request.args.get("state") or ""
    if not state or not _started_here(state):
        return _refused("state")
    taken = _claim(state)
    if taken is None:
        return _refused("state")
    claimed, config = taken
    if request.args.get("error") or not request.args.get("code"):
        error = (request.args.get("error") or "no code")[:100]
        return _refused("provider error", provider_name=config.name, error=error)
    try:
        claims, id_token, refetched = _claims(config, request.args["code"], claimed)
    except oidc.ProviderUnavailable as failure:
        return _refused("provider", provider_name=config.name, error=failure.cause, status=502)
    except oidc.TokenRejected as rejected:
        return _refused("token", provider_name=config.name, error=rejected.cause)
    return _sign_in(config, claims, id_token, refetched, claimed.next_path)


def _sign_in(
    config: oidc.ProviderConfig,
    claims: dict[str, Any],
    id_token: str,
    refetched: dict[str, Any] | None,
    next_path: str | None,
) -> ResponseReturnValue:
    db = db_session()
    now = clock.now()
    if refetched is not None:
        service.store_key_set(db, config.id, refetched, now)
    provider = db.get(IdentityProvider, config.id)
    if provider is None or not provider.active:
        return _refused("provider switched off", provider_name=config.name)
    addresses = oidc.email_candidates(config, claims)
    try:
        user, created = service.person_for(db, provider, claims, addresses, now)
    except service.NotSetUp as refused:
        return _refused(
            refused.cause,
            status=403,
            not_set_up=True,
            provider_name=config.name,
            subject=str(claims.get("sub")),
            email=addresses[0] if addresses else None,
        )
    if created:
        record(
            db,
            action="sso.person_created",
            now=now,
            subject_user_id=user.id,
            provider_name=config.name,
        )
    started = sign_in(db, user, now=now, method="sso", provider_name=config.name)
    service.remember_login(
        db,
        started.token,
        provider.id,
        id_token,
        user_id=user.id,
        now=now,
        expires_at=started.expires_at,
    )
    return redirect(landing(next_path))
