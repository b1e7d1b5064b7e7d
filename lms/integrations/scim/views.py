"""SCIM 2.0 under /scim/v2: Flask hands each request to scim2-server's handler.

Every call needs a bearer token with scope `scim` and is audited (lms.integrations.auth),
except /ServiceProviderConfig, which RFC 7644 lets a client read before it authenticates."""

from __future__ import annotations

import json
import logging
from functools import cache

from flask import Blueprint, Response, g, request, url_for
from flask.typing import ResponseReturnValue
from scim2_models import PayloadTooLargeException, SCIMException, UnauthorizedException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.service import ScimService

from lms import clock
from lms.extensions import csrf, db_session, settings
from lms.integrations.auth import bearer_token
from lms.integrations.scim.compat import VernScimService
from lms.integrations.scim.schemas import provider
from lms.integrations.scim.storage import Caller, VernScimStorage
from lms.integrations.tokens import Scope

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
csrf.exempt(bp)
log = logging.getLogger(__name__)
# Far above any single person or group a provisioning system sends, far below what could
# tie up a worker; a 500-person department with every member listed is about 40 KB.
MAX_BODY_BYTES = 512 * 1024
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@cache
def service() -> ScimService:
    return VernScimService(provider())


def _response(scim: ScimResponse) -> Response:
    body = "" if scim.body is None else json.dumps(scim.body)
    return Response(body, status=int(scim.status), headers=scim.headers)


def scim_error(status: int, detail: str) -> ResponseReturnValue:
    """A refusal by the token check, in SCIM's error format."""
    exception = (
        UnauthorizedException(detail=detail) if status == 401 else SCIMException(detail=detail)
    )
    exception.status = status
    response = service().error_response(exception)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="SCIM"'
    return _response(response)


def _body() -> bytes:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PayloadTooLargeException(detail=f"The body is larger than {MAX_BODY_BYTES} bytes")
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeException(detail=f"The body is larger than {MAX_BODY_BYTES} bytes")
    return body


def _handle(path: str) -> Response:
    token = g.get("api_token")
    caller = Caller(
        token_id=token.id if token else None,
        token_name=token.name if token else None,
        ip=request.remote_addr,
    )
    storage = VernScimStorage(
        db_session(), now=clock.now(), caller=caller, preboarding_days=settings().preboarding_days
    )
    try:
        scim_request = ScimRequest(
            method=request.method,
            base_url=url_for("scim.root", _external=True).rstrip("/"),
            path="/" + path.removesuffix(".scim"),
            query=request.args.to_dict(),
            headers=list(request.headers.items()),
            body=_body(),
        )
        response = ScimHandler(service(), storage).handle(scim_request)
    except SCIMException as refused:
        log.info("SCIM %s %s refused: %s %s", request.method, path, refused.status, refused)
        response = service().error_response(refused)
    except Exception:
        log.exception("SCIM %s %s failed", request.method, path)
        raise
    response.headers.setdefault("Cache-Control", "no-store")
    return _response(response)


@bp.route("/ServiceProviderConfig", methods=METHODS)
def service_provider_config() -> ResponseReturnValue:
    return _handle("ServiceProviderConfig")


@bp.route("/", methods=METHODS, defaults={"path": ""}, endpoint="root")
@bp.route("/<path:path>", methods=METHODS)
@bearer_token(Scope.SCIM, scim_error)
def resources(path: str) -> ResponseReturnValue:
    return _handle(path)
