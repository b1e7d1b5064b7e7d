"""Platforms registered by an admin, and the pylti1p3 tool configuration read from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.integrations.lti import keys as tool_keys
from lms.integrations.lti.models import LtiPlatform, LtiToolKey
from lms.messages import N_
from lms.people import crypto


class BadPlatform(ValueError):
    """A registration that cannot work: the field, and a message for it (translated by the
    page with `values`; English as the exception's text, for the command line)."""

    def __init__(self, field: str, message: str, **values: object) -> None:
        super().__init__(f"{field}: {message % values if values else message}")
        self.field = field
        self.message = message
        self.values = values


@dataclass(frozen=True)
class PlatformDetails:
    name: str
    issuer: str
    client_id: str
    deployment_ids: list[str]
    auth_login_url: str
    auth_token_url: str
    key_set_url: str | None = None
    key_set: str | None = None  # the platform's JWKS as JSON text, if it has no URL
    provisions_users: bool = False
    department_claim: str | None = None
    # Trusted to name people by email: a first launch links to the account with that address.
    matches_by_email: bool = False


def _url(field: str, value: str, *, allow_http: bool) -> str:
    value = value.strip()
    parts = urlsplit(value)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.netloc:
        raise BadPlatform(field, N_("must be an https:// address"))
    return value


def _key_set(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadPlatform(
            "key_set",
            N_("not JSON (%(problem)s, line %(line)s)"),
            problem=error.msg,
            line=error.lineno,
        ) from None
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise BadPlatform("key_set", N_('must be a JWKS, {"keys": [...]}, with at least one key'))
    for key in value["keys"]:
        if not isinstance(key, dict) or key.get("kty") != "RSA" or not key.get("kid"):
            raise BadPlatform("key_set", N_("every key must be an RSA key with a kid"))
    return value


def validate(details: PlatformDetails, *, allow_http: bool) -> PlatformDetails:
    """The details cleaned up, or BadPlatform naming the first field that cannot work."""
    if not details.name.strip():
        raise BadPlatform("name", N_("is required"))
    if not details.client_id.strip():
        raise BadPlatform("client_id", N_("is required"))
    deployments = [d.strip() for d in details.deployment_ids if d.strip()]
    if not deployments:
        raise BadPlatform("deployment_ids", N_("at least one deployment ID is required"))
    if bool(details.key_set_url and details.key_set_url.strip()) == bool(
        details.key_set and details.key_set.strip()
    ):
        raise BadPlatform("key_set_url", N_("give either the platform's JWKS URL or its keys"))
    return PlatformDetails(
        name=details.name.strip(),
        issuer=_url("issuer", details.issuer, allow_http=allow_http),
        client_id=details.client_id.strip(),
        deployment_ids=list(dict.fromkeys(deployments)),
        auth_login_url=_url("auth_login_url", details.auth_login_url, allow_http=allow_http),
        auth_token_url=_url("auth_token_url", details.auth_token_url, allow_http=allow_http),
        key_set_url=(
            _url("key_set_url", details.key_set_url, allow_http=allow_http)
            if details.key_set_url and details.key_set_url.strip()
            else None
        ),
        key_set=details.key_set.strip() if details.key_set and details.key_set.strip() else None,
        provisions_users=details.provisions_users,
        department_claim=(details.department_claim or "").strip() or None,
        matches_by_email=details.matches_by_email,
    )


def register(
    session: Session,
    details: PlatformDetails,
    now: datetime,
    *,
    keys: crypto.Keys,
    allow_http: bool = False,
    created_by_id: int | None = None,
) -> LtiPlatform:
    """Add a platform (issuer + client id must be new) and make sure Vern has its key."""
    clean = validate(details, allow_http=allow_http)
    taken = session.scalar(
        select(LtiPlatform.id).where(
            LtiPlatform.issuer == clean.issuer, LtiPlatform.client_id == clean.client_id
        )
    )
    if taken is not None:
        raise BadPlatform("client_id", N_("this issuer and client ID are registered already"))
    platform = LtiPlatform(
        name=clean.name,
        issuer=clean.issuer,
        client_id=clean.client_id,
        deployment_ids=clean.deployment_ids,
        auth_login_url=clean.auth_login_url,
        auth_token_url=clean.auth_token_url,
        key_set_url=clean.key_set_url,
        key_set=_key_set(clean.key_set) if clean.key_set else None,
        provisions_users=clean.provisions_users,
        department_claim=clean.department_claim,
        matches_by_email=clean.matches_by_email,
        active=True,
        created_at=now,
        created_by_id=created_by_id,
    )
    session.add(platform)
    session.flush()
    tool_keys.ensure_key(session, now, keys)
    return platform


def set_active(session: Session, platform_id: int, active: bool) -> LtiPlatform | None:
    platform = session.get(LtiPlatform, platform_id)
    if platform is not None:
        platform.active = active
        session.flush()
    return platform


def set_email_trust(session: Session, platform_id: int, trusted: bool) -> LtiPlatform | None:
    """Whether launches from this platform may find an existing account by its email."""
    platform = session.get(LtiPlatform, platform_id)
    if platform is not None:
        platform.matches_by_email = trusted
        session.flush()
    return platform


def platforms(session: Session) -> list[LtiPlatform]:
    return list(session.scalars(select(LtiPlatform).order_by(LtiPlatform.name, LtiPlatform.id)))


def find(session: Session, issuer: str, client_id: str | None) -> LtiPlatform | None:
    """The active registration for this issuer (and client id, when the platform says it)."""
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.active)
    if client_id:
        query = query.where(LtiPlatform.client_id == client_id)
    found = list(session.scalars(query.limit(2)))
    # Without a client id the issuer must be unambiguous.
    return found[0] if len(found) == 1 else None


def registration(platform: LtiPlatform, key: LtiToolKey | None, keys: crypto.Keys) -> Registration:
    """pylti1p3's view of a platform, with Vern's key (opened with `keys`) for signing."""
    found = (
        Registration()
        .set_issuer(platform.issuer)
        .set_client_id(platform.client_id)
        .set_auth_login_url(platform.auth_login_url)
        .set_auth_token_url(platform.auth_token_url)
        .set_key_set_url(platform.key_set_url)
        .set_key_set(platform.key_set)  # type: ignore[arg-type]  # a JWKS dict
    )
    if key is not None:
        found.set_tool_private_key(tool_keys.private_pem(key, keys)).set_tool_public_key(
            key.public_pem
        )
    return found


class VernToolConf(ToolConfAbstract[Any]):
    """Registrations from the lti_platforms table; any issuer may have several client ids."""

    def __init__(self, session: Session, keys: crypto.Keys | None = None) -> None:
        self._db = session
        # The running app's keys unless given (pylti1p3 builds registrations on demand).
        self._keys = keys if keys is not None else crypto.current_keys()
        self.platform: LtiPlatform | None = None  # the one the last lookup found

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        return self.find_registration_by_params(iss, "", *args, **kwargs)

    def find_registration_by_params(
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration:
        self.platform = find(self._db, iss, client_id or None)
        if self.platform is None:
            return None  # type: ignore[return-value]  # pylti1p3 turns None into its error
        return registration(self.platform, tool_keys.current_key(self._db), self._keys)

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return None

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        platform = find(self._db, iss, client_id)
        if platform is None or deployment_id not in platform.deployment_ids:
            return None
        return Deployment().set_deployment_id(deployment_id)
