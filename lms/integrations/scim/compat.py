"""What Microsoft Entra ID and Okta send, made into what Vern's SCIM schemas take.

Both providers send attributes Vern does not keep with every user (Entra `"roles": []`, Okta
`password` and `locale`, `name.middleName`, `emails[].display`, Group members' `display`,
Microsoft's ADSCIM Group schema URN) and a few shapes RFC 7644 does not (Entra's manager as a
plain string or a one-item list, its `Remove` on `members` with a value list). Refusing them
stops provisioning at the first user, so they are dropped or reshaped here, before
scim2-server validates the body; anything else unknown is still refused by the schemas.
A dropped `password` is never stored, logged or echoed."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from scim2_models import (
    InvalidFilterException,
    InvalidSyntaxException,
    PatchOp,
    PayloadTooLargeException,
    Resource,
    ResourceType,
    SearchRequest,
)
from scim2_server.conditions import Conditions
from scim2_server.service import ScimService
from scim2_server.utils import parametrize

from lms.integrations.scim import filters
from lms.integrations.scim.schemas import ENTERPRISE_SCHEMA, USER_SCHEMA

# Entra ID sends at most a few hundred operations per PATCH; each one is applied to the whole
# resource, so without a cap a 327 KB body of 4,000 operations held a worker for minutes.
# RFC 7644 §3.7.3 answers a bulk request over its maxOperations with 413: so does a PATCH.
MAX_OPERATIONS = 1000
ADSCIM_GROUP_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
# Top-level attributes accepted and ignored, lower case (SCIM names are case-insensitive).
IGNORED_USER = frozenset({"roles", "entitlements", "x509certificates", "password"})
IGNORED_GROUP: frozenset[str] = frozenset()
# Sub-attributes accepted and ignored: (attribute, sub-attribute), lower case.
IGNORED_SUB = frozenset({("name", "middlename"), ("emails", "display"), ("members", "display")})
MANAGER = f"{ENTERPRISE_SCHEMA}:manager".lower()
# `manager` as the attribute of a comparison, outside quoted values; Entra leaves out the
# extension's URN, which scim2-models only resolves for the core schema's attributes.
BARE_MANAGER = re.compile(r"(?<![\w:.$])manager(?=(?:\.value)?\s+(?:eq|ne|pr)\b)", re.IGNORECASE)
QUOTED = re.compile(r'("(?:[^"\\]|\\.)*")')
# A removal of one member by its value, as Entra's value list becomes (see _member_removals).
MEMBER_REMOVAL = re.compile(r'members\[value eq "(?:[^"\\]|\\.)*"\]', re.IGNORECASE)


def filter_text(scim_filter: str) -> str:
    """A filter with Entra's bare `manager` named in full."""
    parts = QUOTED.split(scim_filter)
    return "".join(
        part if index % 2 else BARE_MANAGER.sub(f"{ENTERPRISE_SCHEMA}:manager", part)
        for index, part in enumerate(parts)
    )


def _without_nulls(value: Any) -> Any:
    """RFC 7643 §2.5: null is the same as unassigned, so Entra's `"title": null` says nothing."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _manager(value: Any) -> Any:
    """Entra sends the manager as `"id"`, `[{"value": "id", "$ref": …}]` or RFC's object; the
    reference is Vern's to make, from the id."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if key.lower() != "$ref"}
    return value


def _sub_attributes(name: str, value: Any) -> Any:
    """Drop the ignored sub-attributes of one attribute, single- or multi-valued."""
    ignored = {sub for attribute, sub in IGNORED_SUB if attribute == name.lower()}
    if not ignored:
        return value

    def clean(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        return {key: sub for key, sub in item.items() if key.lower() not in ignored}

    return [clean(item) for item in value] if isinstance(value, list) else clean(value)


def _attributes(body: dict[str, Any], ignored: frozenset[str]) -> dict[str, Any]:
    """A resource (or a PATCH value) without what Vern ignores, its manager made an object."""
    cleaned: dict[str, Any] = {}
    for key, value in body.items():
        lowered = key.lower()
        if lowered in ignored or lowered.removeprefix(USER_SCHEMA.lower() + ":") in ignored:
            continue
        if lowered == ADSCIM_GROUP_SCHEMA.lower():
            continue
        if lowered == ENTERPRISE_SCHEMA.lower() and isinstance(value, dict):
            value = {
                name: _manager(item) if name.lower() == "manager" else item
                for name, item in value.items()
            }
        elif lowered == MANAGER:  # a PATCH value naming the attribute in full
            value = _manager(value)
        elif lowered.startswith(("name.", "emails.", "members.")):
            attribute, _, sub = lowered.partition(".")
            if (attribute, sub) in IGNORED_SUB:
                continue
        else:
            value = _sub_attributes(key, value)
        cleaned[key] = value
    return cleaned


def resource_body(body: Any, resource_type: str) -> Any:
    """A User or Group body as Vern's schemas take it."""
    if not isinstance(body, dict):
        return body
    body = _without_nulls(body)
    ignored = IGNORED_USER if resource_type == "User" else IGNORED_GROUP
    cleaned = _attributes(body, ignored)
    if isinstance(cleaned.get("schemas"), list):
        cleaned["schemas"] = [
            urn for urn in cleaned["schemas"] if str(urn).lower() != ADSCIM_GROUP_SCHEMA.lower()
        ]
    return cleaned


def _ignored_path(path: str, ignored: frozenset[str]) -> bool:
    lowered = path.lower().removeprefix(USER_SCHEMA.lower() + ":")
    attribute = lowered.split("[")[0].split(".")[0]
    if attribute in ignored:
        return True
    sub = lowered.split("]")[-1].lstrip(".") if "[" in lowered else lowered.partition(".")[2]
    return (attribute, sub) in IGNORED_SUB


def _member_removals(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """Entra's `Remove members` with a value list, as RFC 7644's one filtered path per member."""
    removals = []
    for member in operation["value"]:
        member_id = member.get("value") if isinstance(member, dict) else member
        if not isinstance(member_id, str):
            raise InvalidSyntaxException(detail="members: a value to remove names no one")
        quoted = json.dumps(member_id)
        removals.append({"op": operation["op"], "path": f"members[value eq {quoted}]"})
    return removals


def _operation(operation: Any, resource_type: str) -> list[Any]:
    """One PATCH operation as zero (all ignored), one or several operations Vern takes."""
    if not isinstance(operation, dict):
        return [operation]
    ignored = IGNORED_USER if resource_type == "User" else IGNORED_GROUP
    operation = _without_nulls(operation)
    op = str(operation.get("op", "")).lower()
    path = operation.get("path")
    value = operation.get("value")
    if isinstance(path, str):
        if _ignored_path(path, ignored):
            return []
        lowered = path.lower()
        removing_members = resource_type == "Group" and op == "remove" and lowered == "members"
        if removing_members and isinstance(value, list) and value:
            return _member_removals(operation)
        if resource_type == "User" and lowered in ("manager", MANAGER):
            operation = {**operation, "path": f"{ENTERPRISE_SCHEMA}:manager"}
            if "value" in operation:
                operation["value"] = _manager(value)
            return [operation]
        if isinstance(value, dict | list):
            operation = {**operation, "value": _sub_attributes(path.split("[")[0], value)}
        return [operation]
    if isinstance(value, dict):
        # Okta's group rename repeats the group's id in the value; it is not a change, and
        # neither id nor meta is the client's to set.
        value = _attributes(value, ignored | {"id", "meta"})
        return [{**operation, "value": value}] if value else []
    return [operation]


def _mergeable(operation: Any) -> tuple[str, str] | None:
    """The (op, path) under which this operation joins its neighbours' values, if it can: an
    add of a value list to a plain path, or a removal of one member by its value."""
    if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
        return None
    op, path = str(operation.get("op", "")).lower(), operation["path"]
    value = operation.get("value")
    if op == "add" and "[" not in path and isinstance(value, list):
        # Two values made primary in one operation are an error, in two a change: keep apart.
        if any(isinstance(item, dict) and item.get("primary") is True for item in value):
            return None
        return op, path.lower()
    if op == "remove" and MEMBER_REMOVAL.fullmatch(path) and "value" not in operation:
        return op, "members"
    return None


def merged(operations: list[Any]) -> list[Any]:
    """Runs of operations that each add to the same attribute (or each remove one member) as
    one operation: scim2-models revalidates the whole resource after every operation, so
    4,000 one-value adds took time growing with the square of their number; joined, the
    values are applied and checked once. The outcome is that of applying them in turn."""
    result: list[Any] = []
    run_key: tuple[str, str] | None = None
    for operation in operations:
        key = _mergeable(operation)
        if key is not None and key == run_key:
            last = result[-1]
            if key[0] == "add":
                result[-1] = {**last, "value": [*last["value"], *operation["value"]]}
            else:
                joined = last["path"][len("members[") : -1] + " or "
                result[-1] = {**last, "path": f"members[{joined}{operation['path'][8:-1]}]"}
            continue
        result.append(operation)
        run_key = key
    return result


def patch_body(body: Any, resource_type: str) -> Any:
    """A PATCH request as Vern's schemas take it; its operations may all drop out."""
    if not isinstance(body, dict) or not isinstance(body.get("Operations"), list):
        return body
    if len(body["Operations"]) > MAX_OPERATIONS:
        raise PayloadTooLargeException(
            detail=f"A PATCH may carry at most {MAX_OPERATIONS} operations"
        )
    operations = [
        kept for operation in body["Operations"] for kept in _operation(operation, resource_type)
    ]
    return {**body, "Operations": merged(operations)}


class VernScimService(ScimService):
    """scim2-server's service, reading what Entra ID and Okta send as Vern's schemas take it."""

    def _normalised(self, body: bytes, content_type: str | None, reshape: Any, name: str) -> bytes:
        decoded = self.decode_body(body, content_type)
        return json.dumps(reshape(decoded, name)).encode()

    def read_search_query(
        self, resource_types: list[ResourceType], query: Mapping[str, str]
    ) -> tuple[SearchRequest[Any], Any]:
        """Read a search, its filter naming Entra's bare `manager` in full."""
        if "filter" in query and any(rt.name == "User" for rt in resource_types):
            query = {**query, "filter": filter_text(query["filter"])}
        search, rest = super().read_search_query(resource_types, query)
        if (
            search.filter is not None
            and filters.terms(search.filter.ast) > filters.MAX_FILTER_TERMS
        ):
            raise InvalidFilterException(
                detail=f"A filter may hold at most {filters.MAX_FILTER_TERMS} comparisons"
            )
        return search, rest

    def read_creation(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        """Validate a creation, once what Vern ignores is out of it."""
        body = self._normalised(body, content_type, resource_body, str(resource_type.name))
        return super().read_creation(resource_type, body, content_type)

    def read_replacement(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        """Validate a replacement, once what Vern ignores is out of it."""
        body = self._normalised(body, content_type, resource_body, str(resource_type.name))
        return super().read_replacement(resource_type, body, content_type)

    def read_patch(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> PatchOp[Any]:
        """Validate a PATCH; one whose every operation Vern ignores changes nothing."""
        self.ensure_patch_supported()
        decoded = self.decode_body(body, content_type)
        reshaped = patch_body(decoded, str(resource_type.name))
        emptied = isinstance(reshaped, dict) and reshaped.get("Operations") == []
        if emptied and decoded["Operations"]:
            # Every operation was about something Vern ignores (Okta's password sync).
            return parametrize(PatchOp, self.get_model(resource_type)).model_construct(
                operations=[]
            )
        return super().read_patch(resource_type, json.dumps(reshaped).encode(), content_type)

    def apply_patch(
        self, current: Resource[Any], patch_op: PatchOp[Any], conditions: Conditions
    ) -> Resource[Any] | None:
        """A PATCH left without operations changes nothing: a 204, the ETag unchanged."""
        if not patch_op.operations:
            self.check_preconditions(current, "PATCH", conditions)
            return None
        return super().apply_patch(current, patch_op, conditions)
