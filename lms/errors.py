"""Error pages in the site's layout; our own failures are logged with context."""

from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

API_PREFIXES = ("/api/", "/scim/")


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
            body = {
                "type": "about:blank",
                "title": error.name,
                "status": code,
                "detail": error.description or "",
            }
            response = jsonify(body)
            response.status_code = code
            response.mimetype = "application/problem+json"
            return response
        titles = {
            400: _("Bad request"),
            403: _("Not allowed"),
            404: _("Page not found"),
            405: _("Not allowed"),
            413: _("Too much data"),
        }
        messages = {
            403: _("You do not have access to this page."),
            404: _("There is nothing here. The address may be mistyped, or the page is not yours."),
        }
        return render_template(
            "errors/error.html",
            code=code,
            title=titles.get(code, _("Something went wrong")),
            message=messages.get(code, _("The request could not be handled.")),
        ), code

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> ResponseReturnValue:
        # Flask has already logged the traceback with the method and path.
        return render_template(
            "errors/error.html",
            code=500,
            title=_("Something went wrong on our side"),
            message=_("The error has been logged. Please try again in a moment."),
        ), 500
