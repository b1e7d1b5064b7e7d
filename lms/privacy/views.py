"""The person's own data: a page that explains it and the one-click download."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from lms import clock
from lms.audit.service import record
from lms.extensions import db_session, settings
from lms.privacy.my_data import my_data

bp = Blueprint("privacy", __name__)


@bp.route("/my-data")
@login_required
def my_data_page() -> ResponseReturnValue:
    return render_template(
        "privacy/my_data.html", retention_years=round(settings().retention_days / 365)
    )


@bp.route("/my-data/<int:user_id>.json")
@login_required
def my_data_export(user_id: int) -> ResponseReturnValue:
    """The person's own data; anyone else's id is a plain 404, like a missing one."""
    viewer = current_user._get_current_object()
    if user_id != viewer.id:
        abort(404)
    record(
        db_session(),
        action="export.my_data",
        now=clock.now(),
        actor_id=viewer.id,
        subject_user_id=viewer.id,
        ip=request.remote_addr,
    )
    body = json.dumps(my_data(db_session(), viewer, clock.now()), ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f"attachment; filename=my-data-{clock.now():%Y-%m-%d}.json"
        },
    )
