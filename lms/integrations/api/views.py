"""The evidence API (REST, JSON, RFC 9457 problem details for errors)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from lms import clock
from lms.extensions import csrf, db_session, settings
from lms.integrations.api import openapi, service
from lms.integrations.auth import bearer_token
from lms.integrations.tokens import Scope
from lms.web import whole_number

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
TITLES = {400: "Bad request", 401: "Unauthorized", 404: "Not found", 405: "Method not allowed"}


def problem(status: int, detail: str) -> ResponseReturnValue:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="vern"'
    return response


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> ResponseReturnValue:
    return problem(error.code or 500, error.description or "")


@bp.route("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(openapi.document(settings().base_url))


@bp.route("/people/<path:external_id>/evidence")
@bearer_token(Scope.EVIDENCE, problem)
def person_evidence(external_id: str) -> ResponseReturnValue:
    evidence = service.person_evidence(db_session(), external_id, clock.now().date())
    if evidence is None:
        return problem(404, "No person with that externalId.")
    return jsonify(evidence)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    value = whole_number(raw, low=low, high=high)
    if value is None:
        raise ValueError(f"{name} must be a whole number from {low} to {high}")
    return value


@bp.route("/onboarding")
@bearer_token(Scope.EVIDENCE, problem)
def onboarding() -> ResponseReturnValue:
    raw_date = request.args.get("started_after")
    try:
        if not raw_date:
            raise ValueError("started_after (YYYY-MM-DD) is required")
        try:
            started_after = date.fromisoformat(raw_date)
        except ValueError:
            raise ValueError("started_after must be a date as YYYY-MM-DD") from None
        page = _int_arg("page", 1, 1, 100_000)
        per_page = _int_arg("per_page", 50, 1, 200)
    except ValueError as bad:
        return problem(400, str(bad))
    result = service.cohort(
        db_session(), started_after, clock.now().date(), page=page, per_page=per_page
    )
    more = page * per_page < result.total
    return jsonify(
        {
            "items": result.items,
            "page": page,
            "perPage": per_page,
            "total": result.total,
            "next": url_for(
                "api.onboarding",
                started_after=started_after.isoformat(),
                page=page + 1,
                per_page=per_page,
                _external=True,
            )
            if more
            else None,
        }
    )
