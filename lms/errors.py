"""Error pages in the site's layout; our own failures are logged with context."""

from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from lms.db import lost_write_race
from lms.web import RETRY_HEADER

API_PREFIXES = ("/api/", "/scim/")
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def api_error(code: int, title: str, detail: str) -> ResponseReturnValue:
    """An error for machines in their protocol's format: SCIM's under /scim/, else RFC 9457."""
    if request.path.startswith("/scim/"):
        response = jsonify({"schemas": [SCIM_ERROR], "status": str(code), "detail": detail})
        response.mimetype = "application/scim+json"
    else:
        body = {"type": "about:blank", "title": title, "status": code, "detail": detail}
        response = jsonify(body)
        response.mimetype = "application/problem+json"
    response.status_code = code
    return response


def mark_rollback() -> None:
    """Ask the request to roll back even though it answers with a page (a refused form)."""
    g.rollback_only = True


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> ResponseReturnValue:
        message = _("The form expired or was sent from elsewhere. Go back, reload and try again.")
        return render_template(
            "errors/error.html", code=400, title=_("Form expired"), message=message
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        code = error.code or 500
        if request.path.startswith(API_PREFIXES):  # machines get the protocol's error format
            return api_error(code, error.name, error.description or "")
        titles = {
            400: _("Bad request"),
            403: _("Not allowed"),
            404: _("Page not found"),
            405: _("Not allowed"),
            413: _("Too much data"),
            503: _("Not available"),
        }
        messages = {
            403: _("You do not have access to this page."),
            404: _("There is nothing here. The address may be mistyped, or the page is not yours."),
        }
        return render_template(
            "errors/error.html",
            code=code,
            title=titles.get(code, _("Something went wrong")),
            # A 503 is raised with a message written for the person who sees it.
            message=error.description
            if code == 503
            else messages.get(code, _("The request could not be handled.")),
        ), code

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> ResponseReturnValue:
        if error.original_exception is not None and lost_write_race(error.original_exception):
            # Not an error: lms.web.ReadsSideBySide runs the page view again, holding the
            # write lock this time; this reply never leaves the server.
            return "", 503, {RETRY_HEADER: "1"}
        # Flask has already logged the traceback with the method and path.
        if request.path.startswith(API_PREFIXES):
            return api_error(500, "Internal Server Error", "The error has been logged.")
        return render_template(
            "errors/error.html",
            code=500,
            title=_("Something went wrong on our side"),
            message=_("The error has been logged. Please try again in a moment."),
        ), 500
