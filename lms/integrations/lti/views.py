"""LTI 1.3 endpoints: OIDC login initiation, launch, JWKS, deep-linking reply.

These are reached by the platform (or the browser on its behalf), authenticated by the
platform's signed id_token, never by Vern's cookies: they are exempt from CSRF, and a failed
launch is an error page for the person and a logged, audited cause for the admin."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.lineitem import LineItem

from lms import clock
from lms.audit.service import record, record_failure
from lms.catalog.service import current_courses
from lms.extensions import csrf, db_session, settings, write_after_outcome
from lms.integrations.lti import keys, launches
from lms.integrations.lti.http import PatientSession
from lms.integrations.lti.models import LtiPlatform
from lms.integrations.lti.platforms import VernToolConf
from lms.integrations.lti.storage import DatabaseLaunchStorage
from lms.messages import N_
from lms.people.signing_in import sign_in

log = logging.getLogger(__name__)
bp = Blueprint("lti", __name__, url_prefix="/lti")
PUBLIC_KEY_CACHE_SECONDS = 300
# What a login opened by a launch may reach besides its own course's pages.
ALWAYS_ALLOWED = {"static", "people.logout", "people.preferences"}
COURSE_ENDPOINTS = {
    "training.course",
    "training.module",
    "training.module_read",
    "training.quiz",
    "training.attest",
}
OWN_RECORD_ENDPOINTS = {"training.attempt", "training.result", "training.confirmation"}


def _refused(message: str, cause: str, values: dict[str, str] | None = None) -> ResponseReturnValue:
    """The person sees what to do; the log and the admin's list get the cause, recorded after
    the request's own work is rolled back."""
    log.warning("LTI launch refused: %s", cause)
    issuer = (request.values.get("iss") or "")[:300]
    ip, now = request.remote_addr, clock.now()
    # Counted per address and kind of refusal (its message), not a row each: anyone can
    # post refused launches, and the admin's list shows the latest cause and how many.
    write_after_outcome(
        lambda session: record_failure(
            session,
            action="lti.launch_refused",
            now=now,
            kind=message,
            ip=ip,
            latest=("cause", "issuer"),
            cause=cause[:500],
            issuer=issuer,
        )
    )
    return render_template(
        "lti/refused.html", message=_(message, **values) if values else _(message)
    ), 400


class VernMessageLaunch(FlaskMessageLaunch):
    """pylti1p3's launch, refusing a fetched key set that is not a JWKS: pylti1p3 reads
    `key_set["keys"]` unchecked, so a platform answering `{}` made every launch a 500."""

    def fetch_public_key(self, key_set_url: str) -> Any:
        key_set = super().fetch_public_key(key_set_url)
        found = key_set.get("keys") if isinstance(key_set, dict) else None
        if not isinstance(found, list) or not all(isinstance(key, dict) for key in found):
            raise LtiException("the platform's key set URL answered without a JWKS 'keys' list")
        return key_set


def _launch_from_request() -> tuple[FlaskMessageLaunch, VernToolConf]:
    storage = DatabaseLaunchStorage(db_session())
    conf = VernToolConf(db_session())
    launch = VernMessageLaunch(
        FlaskRequest(),
        conf,
        launch_data_storage=storage,
        requests_session=PatientSession(),
    )
    launch.set_public_key_caching(storage, cache_lifetime=PUBLIC_KEY_CACHE_SECONDS)
    return launch, conf


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt
def login() -> ResponseReturnValue:
    """Third-party initiated login: answer with a redirect to the platform's authorisation
    endpoint, carrying a state (also set as a short-lived cookie) and a nonce (stored)."""
    target = request.values.get("target_link_uri") or ""
    if urlsplit(target).netloc not in ("", request.host):
        return _refused(
            N_("This link does not lead to Vern. Ask your LMS administrator."),
            f"login initiation for a foreign target {target!r}",
        )
    oidc = FlaskOIDCLogin(
        FlaskRequest(),
        VernToolConf(db_session()),
        launch_data_storage=DatabaseLaunchStorage(db_session()),
    )
    try:
        response: ResponseReturnValue = oidc.redirect(url_for("lti.launch", _external=True))
    except (OIDCException, LtiException) as error:
        return _refused(
            N_(
                "Your LMS sent an incomplete or unknown sign-in request. Ask your "
                "administrator to check Vern's registration in the LMS."
            ),
            f"login initiation refused: {error}",
        )
    return response


@bp.route("/launch", methods=["POST"])
@csrf.exempt
def launch() -> ResponseReturnValue:
    message_launch, conf = _launch_from_request()
    try:
        claims: dict[str, Any] = dict(message_launch.get_launch_data())
    except LtiException as error:
        return _refused(
            N_(
                "Vern could not verify this launch from your LMS, so nothing was "
                "opened. Open the course again from your LMS; if it happens again, "
                "tell your administrator."
            ),
            f"launch not verified: {error}",
        )
    platform = conf.platform
    if platform is None:  # validated, so found; kept for the type checker
        abort(400)
    now = clock.now()
    try:
        launches.consume_nonce(db_session(), platform, str(claims.get("nonce") or ""), now)
    except launches.LaunchRefused as refused:
        return _refused(refused.message, refused.cause)
    if message_launch.is_deep_link_launch():
        return _course_picker(message_launch, platform, claims)
    if not message_launch.is_resource_launch():
        return _refused(
            N_("Vern does not handle this kind of LTI message."),
            f"unsupported message type from {platform.issuer}",
        )
    try:
        accepted = launches.accept(db_session(), platform, claims, now)
    except launches.LaunchRefused as refused:
        return _refused(refused.message, refused.cause, refused.values)
    _sign_in_for_launch(accepted, platform)
    return redirect(url_for("training.course", course_key=accepted.course_key))


def _sign_in_for_launch(accepted: launches.AcceptedLaunch, platform: LtiPlatform) -> None:
    # The login reaches the launched course only; nothing from before the launch survives.
    sign_in(
        db_session(),
        accepted.user,
        now=clock.now(),
        action="lti.launch",
        course_scope=accepted.course_key,
        platform=platform.name,
        course=accepted.course_key,
        launch_id=accepted.launch.id,
    )


def _course_picker(
    message_launch: Any, platform: LtiPlatform, claims: dict[str, Any], error: bool = False
) -> str:
    courses = [
        (course.key, version.definition) for course, version in current_courses(db_session())
    ]
    settings_claim = claims.get(
        "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
    )
    multiple = isinstance(settings_claim, dict) and settings_claim.get("accept_multiple") in (
        True,
        "true",
    )
    return render_template(
        "lti/pick_courses.html",
        launch_id=message_launch.get_launch_id(),
        platform=platform,
        courses=courses,
        multiple=multiple,
        error=error,
    )


@bp.route("/deep-link", methods=["POST"])
@csrf.exempt
def deep_link() -> ResponseReturnValue:
    """The instructor's choice, returned to the platform as a signed deep-linking response.
    The launch id (random, stored for the launch's lifetime) is what authorises this POST."""
    launch_id = request.form.get("launch_id", "")
    storage = DatabaseLaunchStorage(db_session())
    conf = VernToolConf(db_session())
    try:
        message_launch = FlaskMessageLaunch.from_cache(
            launch_id, FlaskRequest(), conf, launch_data_storage=storage
        )
    except LtiException as error:
        return _refused(
            N_("This choice came too late or was already sent. Start again from your LMS."),
            f"deep-link reply for an unknown launch: {error}",
        )
    if not message_launch.is_deep_link_launch() or conf.platform is None:
        return _refused(
            N_("This choice came too late or was already sent. Start again from your LMS."),
            "deep-link reply for a launch that was not a deep-linking request",
        )
    chosen = request.form.getlist("course")
    titles = {course.key: version.definition for course, version in current_courses(db_session())}
    unknown = [key for key in chosen if key not in titles]
    if not chosen or unknown:
        claims = dict(message_launch.get_launch_data())
        return _course_picker(message_launch, conf.platform, claims, error=True), 400
    language = settings().default_locale
    resources = []
    for key in chosen:
        title = titles[key].title.get(language) or next(iter(titles[key].title.values()))
        resources.append(
            DeepLinkResource()
            .set_url(url_for("lti.course_link", course_key=key, _external=True))
            .set_custom_params({"course": key})
            .set_title(title)
            .set_target("window")
            .set_lineitem(LineItem().set_tag(key).set_score_maximum(100).set_label(title))
        )
    deep_link = message_launch.get_deep_link()
    jwt = deep_link.get_response_jwt(resources)
    storage.remove_value(launch_id)  # one reply per request
    return_url = str(_deep_link_settings(message_launch).get("deep_link_return_url", ""))
    record(
        db_session(),
        action="lti.deep_link",
        now=clock.now(),
        ip=request.remote_addr,
        platform=conf.platform.name,
        courses=chosen,
    )
    response = Response(
        render_template("lti/deep_link_return.html", return_url=return_url, jwt=jwt)
    )
    # This page's one form goes back to the platform: allow exactly that origin.
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(return_url))
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
        f"base-uri 'none'; frame-ancestors 'none'; form-action {origin}"
    )
    return response


def _deep_link_settings(message_launch: Any) -> dict[str, Any]:
    data: Any = message_launch.get_launch_data().get(
        "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings", {}
    )
    return dict(data) if isinstance(data, dict) else {}


@bp.route("/jwks.json")
def jwks() -> ResponseReturnValue:
    """Vern's public key(s), for platforms checking what Vern signs."""
    return jsonify(keys.jwks(db_session()))


@bp.route("/courses/<course_key>")
def course_link(course_key: str) -> ResponseReturnValue:
    """The address a deep link names; opened outside a launch it is simply the course."""
    return redirect(url_for("training.course", course_key=course_key))


@bp.before_app_request
def keep_launch_in_its_course() -> ResponseReturnValue | None:
    """A login opened by a launch reaches its one course (and the person's own attempts and
    signatures in it), nothing else: the LMS vouched for that course only."""
    if not current_user.is_authenticated or current_user.course_scope is None:
        return None
    endpoint = request.endpoint or ""
    arguments = request.view_args or {}
    if endpoint in ALWAYS_ALLOWED or endpoint.startswith("lti."):
        return None
    if endpoint in COURSE_ENDPOINTS and arguments.get("course_key") == current_user.course_scope:
        return None
    if endpoint in OWN_RECORD_ENDPOINTS and launches.record_in_course(
        db_session(), endpoint, arguments, current_user.course_scope
    ):
        return None
    return render_template("lti/out_of_scope.html", course_key=current_user.course_scope), 403
