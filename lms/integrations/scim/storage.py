"""Vern's people and departments as SCIM Users and Groups (scim2-server's storage interface).

scim2-server speaks the protocol: routing, validation, PATCH, ETags, errors, discovery. This
storage maps its resources onto Vern's tables, through the same services the admin pages use,
so a provisioned person is assigned courses, chased, deactivated and audited like any other.

A SCIM DELETE deactivates the person and hides them from SCIM (404 from then on), but keeps
their training records: those are evidence. A Group is a department; a person is in at most
one, so adding them to a group moves them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import cache
from typing import Any, cast
from zoneinfo import ZoneInfo, available_timezones

from scim2_models import (
    InvalidFilterException,
    InvalidPathException,
    InvalidValueException,
    MutabilityException,
    NotFoundException,
    NotImplementedException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    SCIMException,
    SearchRequest,
    UniquenessException,
)
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy import ColumnElement, Select, exists, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms.audit.service import record
from lms.integrations.scim import filters
from lms.integrations.scim.models import ScimUserDetail
from lms.integrations.scim.schemas import ENTERPRISE_SCHEMA, USER_SCHEMA, VERN_SCHEMA, provider
from lms.people.models import Department, User
from lms.people.service import (
    DuplicateEmail,
    LastActiveAdmin,
    ReportingCycle,
    create_user,
    deactivate,
    department_for_name,
    email_problem,
    normalise_email,
    normalise_name,
    reactivate,
    set_manager,
)
from lms.training.cycles import assign_courses
from lms.web import INT64_MAX, whole_number

NORWEGIAN = ("nb", "nn", "no")
LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
ToResource = Callable[[Any], Resource[Any]]  # a row (User or Department) as a SCIM resource
SCAN_CHUNK = 500  # rows per query when a filter has to be evaluated outside the database


class DepartmentNotEmpty(SCIMException):
    """A group whose department still has active people cannot be deleted."""

    status = 409
    _default_detail = "The department still has active people"


@dataclass(frozen=True)
class Caller:
    """Who is provisioning: the API token, for the audit trail."""

    token_id: int | None
    token_name: str | None
    ip: str | None


def _version(payload: dict[str, Any]) -> str:
    """A weak ETag that changes exactly when the resource does: a hash of its content."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f'W/"{hashlib.sha256(canonical.encode()).hexdigest()[:24]}"'


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {key: _without_empty(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item not in (None, {}, [])}
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    return value


def _meta(name: str, created: datetime | None, modified: datetime | None) -> dict[str, Any]:
    return {"resourceType": name, "created": created, "lastModified": modified or created}


def _text(value: str | None, limit: int, attribute: str) -> str | None:
    """A string attribute as Vern stores it; too long or with control characters is refused."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise InvalidValueException(detail=f"{attribute} is longer than {limit} characters")
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise InvalidValueException(detail=f"{attribute} contains control characters")
    return value or None


def _language(tag: str | None) -> str | None:
    """Vern's language for a language tag or locale (nb-NO, nn, no, en_US, "nb,en;q=0.5")."""
    if not tag:
        return None
    primary = tag.split(",")[0].split(";")[0].replace("_", "-").split("-")[0].strip().lower()
    return "nb" if primary in NORWEGIAN else "en"


def _locale(value: str | None) -> str | None:
    """A locale as RFC 7643 §4.1.1 has it (a language tag: en-US; Okta writes en_US too)."""
    value = _text(value, 64, "locale")
    if value is not None and not LOCALE.fullmatch(value):
        raise InvalidValueException(detail=f"locale {value!r} is not a language tag like nb-NO")
    return value


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(value: str | None) -> str | None:
    """An IANA time zone name, refused with a SCIM error if it is none."""
    value = _text(value, 64, "timezone")
    if value is not None and value not in _time_zones():
        raise InvalidValueException(detail=f"timezone {value!r} is not an IANA time zone name")
    return value


def _instant(value: datetime | str | None) -> datetime | None:
    """A dateTime as an aware instant; one without an offset is read as UTC (RFC 7643 §2.3.5
    asks for one, and UTC is what every provider that leaves it out means)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValueException(detail=f"{value!r} is not a dateTime") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name) if name in _time_zones() else ZoneInfo("UTC")


def _at(payload: dict[str, Any], *path: str) -> Any:
    """The value at a path of a dumped resource, None where any step is missing."""
    value: Any = payload
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


class VernScimStorage(ScimStorage):
    """One request's view of Vern for scim2-server; writes go to the request's session."""

    def __init__(
        self, session: Session, *, now: datetime, caller: Caller, preboarding_days: int | None
    ) -> None:
        self.session = session
        self.now = now
        self.caller = caller
        self.preboarding_days = preboarding_days
        self._provider = provider()
        # What each person's provider sent beyond Vern's own columns, loaded once per request.
        self._details: dict[int, ScimUserDetail | None] = {}
        types = {rt.name: rt for rt in self._provider.resource_types}
        self.user_model = cast(type[Resource[Any]], self._provider.model_for(types["User"]))
        self.group_model = cast(type[Resource[Any]], self._provider.model_for(types["Group"]))

    # -- scim2-server's interface -----------------------------------------------------------

    @contextmanager
    def operation(self) -> Iterator[None]:
        """A savepoint per operation: a refused write leaves nothing behind."""
        try:
            with self.session.begin_nested():
                yield
        except IntegrityError:
            # Two provisioning calls raced for the same unique value; the loser is told so.
            raise UniquenessException(detail="A unique value is already taken") from None

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        if resource_type.name == "User":
            return self._user_resource(self._user(resource_id))
        return self._group_resource(self._department(resource_id), with_members=True)

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        if len(resource_types) != 1:
            raise NotImplementedException(detail="Search /Users or /Groups, not the root")
        if resource_types[0].name == "User":
            return self._search_users(search_request)
        return self._search_groups(search_request)

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        if resource_type.name == "User":
            return self._user_resource(self._create_user(resource))
        return self._group_resource(self._create_group(resource), with_members=True)

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        current = self.get(resource_type, cast(str, resource.id))
        self._check_version(current, expected_version)
        if resource_type.name == "User":
            user = self._user(cast(str, resource.id))
            self._write_user(user, resource, creating=False)
            return self._user_resource(user)
        department = self._department(cast(str, resource.id))
        self._write_group(department, resource)
        return self._group_resource(department, with_members=True)

    def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        self._check_version(self.get(resource_type, resource_id), expected_version)
        if resource_type.name == "User":
            self._delete_user(self._user(resource_id))
        else:
            self._delete_group(self._department(resource_id))

    @staticmethod
    def _check_version(current: Resource[Any], expected_version: str | None) -> None:
        if (
            expected_version is not None
            and current.meta
            and current.meta.version != (expected_version)
        ):
            raise PreconditionFailedException

    def _audit(self, action: str, subject_user_id: int | None = None, **detail: Any) -> None:
        record(
            self.session,
            action=action,
            now=self.now,
            subject_user_id=subject_user_id,
            ip=self.caller.ip,
            token_id=self.caller.token_id,
            token_name=self.caller.token_name,
            **detail,
        )

    # -- Users -------------------------------------------------------------------------------

    def _user(self, resource_id: str) -> User:
        # An id that is no 64-bit number in ASCII digits ("²", 20 digits) is nobody, not a 500.
        found = whole_number(resource_id)
        user = self.session.get(User, found) if found is not None else None
        if user is None or user.scim_deleted_at is not None:
            raise NotFoundException(detail=f"User {resource_id!r} not found")
        return user

    def _user_payload(self, user: User) -> dict[str, Any]:
        department = user.department
        in_department = department is not None and department.archived_at is None
        detail = self._detail(user)
        return _without_empty(
            {
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA, VERN_SCHEMA],
                "id": str(user.id),
                "externalId": user.external_id,
                "userName": user.scim_user_name or user.email,
                "name": {
                    "formatted": user.formatted_name,
                    "givenName": user.given_name,
                    "familyName": user.family_name,
                },
                "displayName": user.display_name,
                "preferredLanguage": user.preferred_language,
                "locale": detail.locale if detail else None,
                "timezone": detail.timezone if detail else None,
                "active": user.active,
                "emails": [self._email_value(user)],
                "groups": [
                    {
                        "value": str(department.id),
                        "$ref": f"Groups/{department.id}",
                        "display": department.name,
                        "type": "direct",
                    }
                ]
                if department is not None and in_department
                else [],
                ENTERPRISE_SCHEMA: {
                    "employeeNumber": user.employee_number,
                    "department": department.name if department and in_department else None,
                    "manager": {"value": str(user.manager_id), "$ref": f"Users/{user.manager_id}"}
                    if user.manager_id
                    else None,
                },
                VERN_SCHEMA: {"startDate": self._start_text(user)},
            }
        )

    def _detail(self, user: User) -> ScimUserDetail | None:
        if user.id not in self._details:
            self._details[user.id] = self.session.get(ScimUserDetail, user.id)
        return self._details[user.id]

    def _load_details(self, users: list[User]) -> None:
        """One query for a page of people instead of one per person."""
        wanted = [user.id for user in users if user.id not in self._details]
        if not wanted:
            return
        found = self.session.scalars(
            select(ScimUserDetail).where(ScimUserDetail.user_id.in_(wanted))
        )
        self._details.update(dict.fromkeys(wanted))
        self._details.update({detail.user_id: detail for detail in found})

    def _detail_to_write(self, user: User) -> ScimUserDetail:
        detail = self._detail(user)
        if detail is None:
            detail = ScimUserDetail(user_id=user.id)
            self.session.add(detail)
            self._details[user.id] = detail
        return detail

    def _start_text(self, user: User) -> str | None:
        """The startDate as the provider sent it (as an instant); for a date that came from
        elsewhere (the admin page, the CSV import), or was changed there since, the start of
        that day in the person's time zone. As text, so it serves the audit trail's JSON too."""
        if user.start_date is None:
            return None
        sent = self._sent_start(user)
        if sent is not None:
            return sent.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return datetime.combine(user.start_date, time(), tzinfo=_zone(user.timezone)).isoformat()

    @staticmethod
    def _email_value(user: User) -> dict[str, Any]:
        """The one address Vern keeps, as the provider sent it; for people who came from
        elsewhere (the CSV import, the admin pages) it is their primary work address, which
        is what providers' PATCHes such as `emails[type eq "work"].value` look for."""
        return {
            "value": user.email,
            "type": user.email_type or "work",
            "primary": True if user.email_primary is None else user.email_primary,
        }

    def _user_resource(self, user: User) -> Resource[Any]:
        payload = self._user_payload(user)
        payload["schemas"] = [
            urn for urn in payload["schemas"] if urn == USER_SCHEMA or urn in payload
        ]
        meta = _meta("User", user.created_at, user.updated_at)
        meta["version"] = _version(payload)
        return self.user_model.model_validate({**payload, "meta": _without_empty(meta)})

    def _search_users(self, search_request: SearchRequest[Any]) -> SearchPage:
        visible = User.scim_deleted_at.is_(None)
        return self._search(
            search_request,
            select(User).where(visible),
            filters.USERS,
            self._user_resource,
            self._load_details,
        )

    def _search_groups(self, search_request: SearchRequest[Any]) -> SearchPage:
        excluded = {str(path).lower() for path in search_request.excluded_attributes or []}
        with_members = "members" not in excluded

        def resource(department: Department) -> Resource[Any]:
            return self._group_resource(department, with_members=with_members)

        visible = Department.archived_at.is_(None)
        return self._search(
            search_request, select(Department).where(visible), filters.GROUPS, resource
        )

    def _search(
        self,
        search_request: SearchRequest[Any],
        query: Select[Any],
        sql: filters.SqlFilter,
        resource: ToResource,
        prepare: Callable[[list[Any]], None] = lambda rows: None,
    ) -> SearchPage:
        entity = query.column_descriptions[0]["entity"]
        # A startIndex past any list is an empty page, not an offset the database overflows on.
        start = min(search_request.start_index_0 or 0, INT64_MAX)
        count = search_request.count
        scim_filter = search_request.filter
        condition: ColumnElement[bool] = true()
        if scim_filter is not None:
            try:
                condition = sql.where(scim_filter.ast)
            except filters.NotInSql:
                return self._scan(query.order_by(entity.id), search_request, resource, prepare)
        query = query.where(condition)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = query.order_by(entity.id).offset(start)
        if count is not None:
            page = page.limit(count)
        rows = list(self.session.scalars(page))
        prepare(rows)
        return SearchPage(total, [resource(row) for row in rows])

    def _scan(
        self,
        query: Select[Any],
        search_request: SearchRequest[Any],
        resource: ToResource,
        prepare: Callable[[list[Any]], None],
    ) -> SearchPage:
        """Evaluate a filter SQL cannot express on every row, a chunk at a time."""
        scim_filter = search_request.filter
        if scim_filter is None:
            raise InvalidFilterException(detail="No filter to evaluate")
        found: list[Resource[Any]] = []
        offset = 0
        try:
            while rows := list(self.session.scalars(query.offset(offset).limit(SCAN_CHUNK))):
                prepare(rows)
                found.extend(item for item in map(resource, rows) if scim_filter.match(item))
                offset += SCAN_CHUNK
        except (TypeError, ValueError, InvalidPathException) as error:
            # An attribute Vern does not have is the filter's fault (RFC 7644 §3.4.2.2).
            raise InvalidFilterException(detail=str(error)) from None
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(len(found), found[start:stop])

    def _create_user(self, resource: Resource[Any]) -> User:
        payload = resource.model_dump()
        email = self._email(payload)
        returning = self.session.scalar(
            select(User).where(User.email == email, User.scim_deleted_at.is_not(None))
        )
        if returning is not None:
            # Someone deleted earlier comes back (a rehire): same person, history and all.
            returning.scim_deleted_at = None
            self._write_user(returning, resource, creating=True)
            return returning
        try:
            user = create_user(
                self.session,
                email=email,
                full_name=self._full_name(payload),
                now=self.now,
            )
        except DuplicateEmail:
            raise UniquenessException(detail=f"{email} is already someone's address") from None
        user.updated_at = self.now
        self._write_user(user, resource, creating=True)
        return user

    def _email(self, payload: dict[str, Any]) -> str:
        emails = payload.get("emails") or []
        chosen = (
            next((item for item in emails if item.get("primary")), None)
            or next((item for item in emails if item.get("type") == "work"), None)
            or (emails[0] if emails else None)
        )
        if chosen is None or not chosen.get("value"):
            raise InvalidValueException(detail="emails: Vern needs an address to write to")
        problem = email_problem(chosen["value"])
        if problem is not None:
            raise InvalidValueException(detail=f"emails: {problem}")
        return normalise_email(chosen["value"])

    def _full_name(self, payload: dict[str, Any]) -> str:
        name = payload.get("name") or {}
        parts = [name.get("givenName"), name.get("familyName")]
        full = (
            name.get("formatted")
            or " ".join(part for part in parts if part)
            or payload.get("displayName")
            or payload["userName"]
        )
        return cast(str, _text(full, 200, "name.formatted"))

    def _write_user(self, user: User, resource: Resource[Any], *, creating: bool) -> None:
        """Make `user` what the provisioning system says, then assign and audit.

        Only what differs from the person as Vern shows them is written: a PATCH arrives here
        as the whole resource with its operations applied, and Vern holds more than the
        resource shows (the full name of someone added on the admin page, the language the
        person chose), which rewriting every column from the resource would lose."""
        payload = resource.model_dump()
        before = self._user_payload(user)
        current: dict[str, Any] = {} if creating else self._user_resource(user).model_dump()
        sent_start = self._sent_start(user)  # before a new time zone moves its date

        def changed(*path: str) -> bool:
            return creating or _at(payload, *path) != _at(current, *path)

        self._write_identity(user, payload, changed)
        self._write_language(user, payload, changed)
        enterprise = payload.get(ENTERPRISE_SCHEMA) or {}
        if changed(ENTERPRISE_SCHEMA, "employeeNumber"):
            user.employee_number = _text(enterprise.get("employeeNumber"), 64, "employeeNumber")
        if changed(ENTERPRISE_SCHEMA, "department"):
            department_name = _text(enterprise.get("department"), 200, "department")
            if department_name is not None:
                user.department = department_for_name(self.session, department_name, self.now)
            elif not creating:
                user.department = None
        if changed(ENTERPRISE_SCHEMA, "manager", "value"):
            self._set_manager(user, (enterprise.get("manager") or {}).get("value"))
        start = _at(payload, VERN_SCHEMA, "startDate")
        if creating or _instant(start) != _instant(_at(current, VERN_SCHEMA, "startDate")):
            self._set_start(user, _instant(start))
        elif changed("timezone") and sent_start is not None:
            self._set_start(user, sent_start)
        if changed("active"):
            self._set_active(user, payload.get("active", True) is not False)
        user.updated_at = self.now
        self.session.flush()
        self._assign(user)
        self._audit_change(user, before, creating)

    def _write_identity(
        self, user: User, payload: dict[str, Any], changed: Callable[..., bool]
    ) -> None:
        """Who the person is: user name, address, external id and names."""
        name = payload.get("name") or {}
        email = self._email(payload)
        if email != user.email and self.session.scalar(
            select(exists().where(User.email == email, User.id != user.id))
        ):
            raise UniquenessException(detail=f"{email} is already someone's address")
        # Someone added elsewhere reads as userName = their address; the first write keeps
        # that, so the provider still finds them by it if the address changes later.
        if changed("userName") or user.scim_user_name is None:
            self._check_user_name(user, payload["userName"])
            user.scim_user_name = _text(payload["userName"], 255, "userName")
        user.email = email
        kept = self._kept_email(payload, email)
        user.email_type = _text(kept.get("type"), 32, "emails.type")
        user.email_primary = kept.get("primary")
        if changed("externalId"):
            user.external_id = _text(payload.get("externalId"), 255, "externalId")
        if changed("name"):
            user.formatted_name = _text(name.get("formatted"), 200, "name.formatted")
            user.given_name = _text(name.get("givenName"), 100, "name.givenName")
            user.family_name = _text(name.get("familyName"), 100, "name.familyName")
        if changed("displayName"):
            user.display_name = _text(payload.get("displayName"), 200, "displayName")
        if changed("name") or changed("displayName"):
            user.full_name = normalise_name(self._full_name(payload))

    def _write_language(
        self, user: User, payload: dict[str, Any], changed: Callable[..., bool]
    ) -> None:
        """preferredLanguage, else locale, sets the language; timezone the person's clock."""
        if changed("preferredLanguage") or changed("locale"):
            preferred = _text(payload.get("preferredLanguage"), 64, "preferredLanguage")
            locale = _locale(payload.get("locale"))
            user.preferred_language = preferred
            if locale is not None or self._detail(user) is not None:
                self._detail_to_write(user).locale = locale
            user.locale = _language(preferred) or _language(locale) or user.locale
        if changed("timezone"):
            timezone = _timezone(payload.get("timezone"))
            if timezone is not None or self._detail(user) is not None:
                self._detail_to_write(user).timezone = timezone
            # Without one from the provider the person keeps the time zone they have.
            user.timezone = timezone or user.timezone

    def _sent_start(self, user: User) -> datetime | None:
        """The startDate instant the provider sent, while it still is the person's start date
        (the admin page may have moved the date since)."""
        detail = self._detail(user)
        if detail is None or detail.start_at is None or user.start_date is None:
            return None
        local = detail.start_at.astimezone(_zone(user.timezone)).date()
        return detail.start_at if local == user.start_date else None

    def _set_start(self, user: User, start: datetime | None) -> None:
        """Keep the instant as sent; Vern counts from its date in the person's time zone."""
        if start is None:
            user.start_date = None
            if self._detail(user) is not None:
                self._detail_to_write(user).start_at = None
            return
        self._detail_to_write(user).start_at = start.astimezone(UTC)
        user.start_date = start.astimezone(_zone(user.timezone)).date()

    def _assign(self, user: User) -> None:
        """Courses for the person's (new) department or start date, as for anyone else."""
        assign_courses(self.session, self.now, user=user, preboarding_days=self.preboarding_days)

    def _check_user_name(self, user: User, user_name: str) -> None:
        key = user_name.strip().lower()
        taken = self.session.scalar(
            select(
                exists().where(
                    func.lower(func.coalesce(User.scim_user_name, User.email)) == key,
                    User.scim_deleted_at.is_(None),
                    User.id != user.id,
                )
            )
        )
        if taken:
            raise UniquenessException(detail=f"userName {user_name!r} is taken")

    @staticmethod
    def _kept_email(payload: dict[str, Any], email: str) -> dict[str, Any]:
        for item in payload.get("emails") or []:
            if normalise_email(item.get("value") or "") == email:
                return cast(dict[str, Any], item)
        return {}

    def _set_manager(self, user: User, manager_id: str | None) -> None:
        manager = None
        if manager_id:
            try:
                manager = self._user(manager_id)
            except NotFoundException:
                raise InvalidValueException(
                    detail=f"manager.value {manager_id!r} is no one in Vern"
                ) from None
        try:
            set_manager(self.session, user, manager)
        except ReportingCycle as cycle:
            raise InvalidValueException(detail=f"manager.value: {cycle}") from None

    def _set_active(self, user: User, active: bool) -> None:
        if active and not user.active:
            reactivate(self.session, user)
        elif not active and user.active:
            self._deactivate(user)

    def _deactivate(self, user: User) -> None:
        """Ends every login too; the last active admin stays (RFC 7644 3.12: the attribute
        cannot change in the resource's current state)."""
        try:
            deactivate(self.session, user, self.now)
        except LastActiveAdmin:
            raise MutabilityException(
                detail=f"{user.email} is Vern's only active admin: make someone else an admin "
                "in Vern before deactivating or deleting them"
            ) from None

    def _audit_change(self, user: User, before: dict[str, Any], creating: bool) -> None:
        after = self._user_payload(user)
        changes = {
            key: [before.get(key), after.get(key)]
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key) and key not in ("id", "schemas")
        }
        if creating:
            self._audit("scim.user.create", user.id, changes=changes)
        elif changes:
            self._audit("scim.user.update", user.id, changes=changes)

    def _delete_user(self, user: User) -> None:
        self._deactivate(user)
        self._audit(
            "scim.user.delete",
            user.id,
            user_name=user.scim_user_name,
            external_id=user.external_id,
        )
        # Free the identifiers for a future person; the email stays, so a rehire with the
        # same address comes back as the same person (see _create_user).
        user.scim_user_name = None
        user.external_id = None
        user.scim_deleted_at = self.now
        user.updated_at = self.now
        self.session.flush()

    # -- Groups ------------------------------------------------------------------------------

    def _department(self, resource_id: str) -> Department:
        found = whole_number(resource_id)
        department = self.session.get(Department, found) if found is not None else None
        if department is None or department.archived_at is not None:
            raise NotFoundException(detail=f"Group {resource_id!r} not found")
        return department

    def _member_ids(self, department: Department) -> list[int]:
        return list(
            self.session.scalars(
                select(User.id)
                .where(User.department_id == department.id, User.scim_deleted_at.is_(None))
                .order_by(User.id)
            )
        )

    def _group_resource(self, department: Department, *, with_members: bool) -> Resource[Any]:
        members = self._member_ids(department)
        payload = _without_empty(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "id": str(department.id),
                "externalId": department.external_id,
                "displayName": department.name,
                "members": [
                    {"value": str(member), "$ref": f"Users/{member}", "type": "User"}
                    for member in members
                ],
            }
        )
        meta = _meta("Group", department.created_at, department.updated_at)
        meta["version"] = _version(payload)
        if not with_members:
            payload.pop("members", None)
        return self.group_model.model_validate({**payload, "meta": _without_empty(meta)})

    def _create_group(self, resource: Resource[Any]) -> Department:
        payload = resource.model_dump()
        name = cast(str, _text(payload["displayName"], 200, "displayName"))
        self._check_group_name(None, name)
        department = department_for_name(self.session, name, self.now)
        self._write_group(department, resource, creating=True)
        return department

    def _check_group_name(self, department: Department | None, name: str) -> None:
        taken = self.session.scalar(
            select(
                exists().where(
                    func.lower(Department.name) == name.lower(),
                    Department.archived_at.is_(None),
                    Department.id != (department.id if department else -1),
                )
            )
        )
        if taken:
            raise UniquenessException(detail=f"There is already a department called {name!r}")

    def _write_group(
        self, department: Department, resource: Resource[Any], *, creating: bool = False
    ) -> None:
        payload = resource.model_dump()
        name = cast(str, _text(payload["displayName"], 200, "displayName"))
        self._check_group_name(department, name)
        before_name, before_members = department.name, set(self._member_ids(department))
        department.name = name
        department.external_id = _text(payload.get("externalId"), 255, "externalId")
        wanted = {str(member.get("value")) for member in payload.get("members") or []}
        members = {self._member(value).id for value in wanted}
        for user_id in members - before_members:
            person = self.session.get_one(User, user_id)
            person.department = department
            person.updated_at = self.now
            self._assign(person)
        for user_id in before_members - members:
            person = self.session.get_one(User, user_id)
            person.department = None
            person.updated_at = self.now
        department.updated_at = self.now
        self.session.flush()
        self._audit(
            "scim.group.create" if creating else "scim.group.update",
            department=department.key,
            name=[before_name, name],
            added=sorted(members - before_members),
            removed=sorted(before_members - members),
        )

    def _member(self, value: str) -> User:
        try:
            return self._user(value)
        except NotFoundException:
            raise InvalidValueException(detail=f"members: {value!r} is no one in Vern") from None

    def _delete_group(self, department: Department) -> None:
        active = self.session.scalar(
            select(func.count()).where(User.department_id == department.id, User.active.is_(True))
        )
        if active:
            raise DepartmentNotEmpty(
                detail=f"{active} active people are in this department; move them first"
            )
        department.archived_at = self.now
        department.updated_at = self.now
        self.session.flush()
        self._audit("scim.group.delete", department=department.key, name=department.name)
