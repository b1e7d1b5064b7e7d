"""Assignment and Grade Services: a signed attestation's score goes to the platform's line
item, through the outbox (found in the tables under a unique key, retried with backoff).

The score is posted for every platform link the person launched the course from, whether
they signed before or after that launch: the gradebook shows what Vern's records show."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.service_connector import ServiceConnector
from requests import RequestException
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from lms.clock import iso_utc
from lms.db import Database
from lms.integrations.lti import keys as tool_keys
from lms.integrations.lti.http import PatientSession
from lms.integrations.lti.launches import SCORE_SCOPE
from lms.integrations.lti.models import LtiLaunch, LtiPlatform, LtiToolKey
from lms.integrations.lti.platforms import registration
from lms.integrations.lti.storage import purge_expired
from lms.people import crypto, outbound
from lms.people.outbound import Policy
from lms.reminders import delivery, outbox
from lms.reminders.delivery import DeliveryFailed, NotWanted
from lms.reminders.jobs import JobContext
from lms.reminders.models import OutboxMessage
from lms.training.models import Assignment, Attestation

KIND = "lti_score"
WINDOW = timedelta(days=7)  # launches and signatures this recent are looked at
GONE = (404, 410)  # the line item or the course was deleted: retrying cannot help


def find_scores(session: Session, now: datetime, *, domain: str) -> int:
    """Queue one score per (line item, person, attestation) for recent launches and
    signatures; the outbox key makes a second run (or a second scheduler) add nothing."""
    since = now - WINDOW
    rows = session.execute(
        select(LtiLaunch, Attestation)
        .join(
            Attestation,
            and_(
                Attestation.user_id == LtiLaunch.user_id,
                Attestation.course_key == LtiLaunch.course_key,
            ),
        )
        .join(Assignment, Assignment.id == Attestation.assignment_id)
        .where(
            LtiLaunch.lineitem_url.is_not(None),
            or_(LtiLaunch.launched_at >= since, Attestation.signed_at >= since),
            Assignment.superseded_at.is_(None),  # the current cycle's signature only
        )
    ).all()
    queued = 0
    for launch, attestation in rows:
        if SCORE_SCOPE not in launch.ags_scopes:
            continue
        line = hashlib.sha256(str(launch.lineitem_url).encode()).hexdigest()[:16]
        queued += int(
            outbox.enqueue(
                session,
                key=f"lti-score:{launch.platform_id}:{line}:{launch.subject}:{attestation.id}",
                kind=KIND,
                payload={
                    "platform_id": launch.platform_id,
                    "lineitem": launch.lineitem_url,
                    "scopes": launch.ags_scopes,
                    "subject": launch.subject,
                    "score": attestation.score_percent,
                    "signed_at": iso_utc(attestation.signed_at),
                    "course": attestation.course_key,
                },
                now=now,
                domain=domain,
            )
        )
    return queued


def _grade(payload: dict[str, Any]) -> Grade:
    return (
        Grade()
        .set_score_given(payload["score"])
        .set_score_maximum(100)
        .set_timestamp(payload["signed_at"])
        .set_activity_progress("Completed")
        .set_grading_progress("FullyGraded")
        .set_user_id(payload["subject"])
        .set_comment(f"Attestation signed in Vern ({payload['course']})")
    )


def post_score(
    platform: LtiPlatform,
    key: LtiToolKey | None,
    payload: dict[str, Any],
    *,
    policy: Policy,
    keys: crypto.Keys,
) -> None:
    """Token from the platform (client assertion signed with Vern's key), then the score,
    under the outbound policy; only the status of a refusal is kept, never the body."""
    try:
        found = registration(platform, key, keys)
    except crypto.SecretUnreadable:
        raise DeliveryFailed("LTI key unreadable: was the secret key changed?") from None
    connector = ServiceConnector(found, requests_session=PatientSession(policy))
    service = AssignmentsGradesService(
        connector, {"scope": payload["scopes"], "lineitem": payload["lineitem"]}
    )
    try:
        service.put_grade(_grade(payload))
    except LtiServiceException as error:
        status = error.response.status_code
        reason = outbound.status_reason(error.response)
        raise DeliveryFailed(f"{reason} from {error.response.url}", status in GONE) from None
    except (LtiException, RequestException, ValueError) as error:
        # pylti1p3's messages can quote a reply; the session's own reasons cannot.
        detail = str(error) if isinstance(error, RequestException) else type(error).__name__
        raise DeliveryFailed(detail[:300], permanent=False) from None


def deliver_due(
    database: Database, now: datetime, *, policy: Policy, keys: crypto.Keys, limit: int = 100
) -> str:
    """Post the due scores (see lms.reminders.delivery)."""
    with database.transaction() as session:
        active = {p.id: p for p in session.scalars(select(LtiPlatform).where(LtiPlatform.active))}
        key = tool_keys.current_key(session)

    def send(message: OutboxMessage) -> None:
        platform = active.get(message.payload["platform_id"])
        if platform is None:
            raise NotWanted("platform switched off")
        post_score(platform, key, message.payload, policy=policy, keys=keys)

    posted, failed = delivery.deliver_due(database, now, kind=KIND, send=send, limit=limit)
    return f"scores posted {posted}, failed {failed}"


def run(context: JobContext) -> str:
    """The `lti_scores` job: find scores to post, then post what is due (and forget expired
    LTI handshake values on the way)."""
    with context.database.transaction() as session:
        found = find_scores(session, context.now, domain=context.settings.mail_domain)
        purged = purge_expired(session, context.now)
    return (
        f"scores queued {found}, "
        + deliver_due(
            context.database,
            context.now,
            policy=Policy.from_settings(context.settings),
            keys=crypto.current_keys(),
        )
        + (f", expired LTI values removed {purged}")
    )
