"""Bearer-token authentication for the machine APIs; every call is audited, even refused ones."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec

from flask import g, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from lms import clock
from lms.audit.service import record, record_failure
from lms.extensions import database
from lms.integrations.tokens import ApiToken, Scope, TokenRejected, authenticate

P = ParamSpec("P")
ErrorResponse = Callable[[int, str], ResponseReturnValue]
QUERY_TOKEN_NAMES = ("access_token", "token", "api_key", "apikey")


def _audit_call(session: Session, scope: Scope, token: ApiToken | None, outcome: str) -> None:
    if token is None:  # nobody authenticated: counted per address and outcome, not one row each
        record_failure(
            session,
            action=f"api.{scope}",
            now=clock.now(),
            kind=outcome,
            ip=request.remote_addr,
            method=request.method,
            path=request.path[:200],
            outcome=outcome,
        )
        return
    record(
        session,
        action=f"api.{scope}",
        now=clock.now(),
        ip=request.remote_addr,
        method=request.method,
        path=request.path,
        outcome=outcome,
        token_id=token.id if token else None,
        token_name=token.name if token else None,
    )


def _check(scope: Scope) -> tuple[ApiToken | None, str, int]:
    """Authenticate and audit in a transaction of their own, committed whatever the request
    then does: a refused or failing call must still leave its audit trail and last use.
    Tokens in the query string are refused outright: URLs end up in logs and histories."""
    with database().transaction() as session:
        if any(name in request.args for name in QUERY_TOKEN_NAMES):
            _audit_call(session, scope, None, "refused: token in query string")
            return None, "Send the token in the Authorization header, never in the URL.", 400
        kind, _, raw = request.headers.get("Authorization", "").partition(" ")
        if kind.lower() != "bearer" or not raw.strip():
            _audit_call(session, scope, None, "refused: no bearer token")
            return None, "An Authorization: Bearer token is required.", 401
        try:
            token = authenticate(session, raw.strip(), scope, clock.now())
        except TokenRejected as rejected:
            _audit_call(session, scope, None, f"refused: {rejected}")
            return None, str(rejected).capitalize() + ".", 401
        _audit_call(session, scope, token, "accepted")
        return token, "", 200


def bearer_token(
    scope: Scope, error: ErrorResponse
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """The view needs `Authorization: Bearer <token>` with this scope."""

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            token, refusal, status = _check(scope)
            if token is None:
                return error(status, refusal)
            g.api_token = token
            return view(*args, **kwargs)

        return wrapper

    return decorate
