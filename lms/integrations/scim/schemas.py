"""What Vern's SCIM service announces: only the attributes it keeps, and the features it has.

The schemas are RFC 7643's, cut down to what Vern stores. A provisioning system that sends
anything else gets a 400 naming the attribute instead of a silent drop, and Vern holds no
personal data it does not need (addresses, phone numbers, photos)."""

from __future__ import annotations

from functools import cache

from scim2_models import (
    URI,
    Attribute,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ETag,
    External,
    Filter,
    Mutability,
    Patch,
    Reference,
    Required,
    ResourceType,
    Returned,
    Schema,
    SchemaExtension,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_server.utils import load_default_resource_types, load_default_schemas

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
VERN_SCHEMA = "urn:ietf:params:scim:schemas:extension:vern:2.0:User"
MAX_RESULTS = 200
DOCS_URL = "https://datatracker.ietf.org/doc/html/rfc7644"

# Advisory values (RFC 7643 §7 canonicalValues): what Vern understands best.
CANONICAL = {
    (USER_SCHEMA, "locale"): ["nb-NO", "nn-NO", "en-GB", "en-US"],
    (USER_SCHEMA, "timezone"): ["Europe/Oslo", "Europe/Stockholm", "Europe/London", "UTC"],
}
# attribute -> the sub-attributes kept (empty: a simple attribute)
KEPT: dict[str, dict[str, tuple[str, ...]]] = {
    USER_SCHEMA: {
        "userName": (),
        "name": ("formatted", "familyName", "givenName"),
        "displayName": (),
        "preferredLanguage": (),
        "locale": (),
        "timezone": (),
        "active": (),
        "emails": ("value", "type", "primary"),
        "groups": ("value", "$ref", "display", "type"),
    },
    GROUP_SCHEMA: {"displayName": (), "members": ("value", "$ref", "type")},
    ENTERPRISE_SCHEMA: {"employeeNumber": (), "department": (), "manager": ("value", "$ref")},
}
DESCRIPTIONS = {
    (USER_SCHEMA, "emails"): (
        "Vern writes to one address: the primary one, else the first of type work, else the "
        "first. Only that address is kept."
    ),
    (USER_SCHEMA, "preferredLanguage"): (
        "Vern shows Norwegian Bokmål to a person whose preferred language is nb, nn or no, "
        "and English to anyone else."
    ),
    (USER_SCHEMA, "locale"): (
        "Used for the person's language when there is no preferredLanguage: nb, nn, no "
        "(any region) is Norwegian Bokmål, anything else English. Read back as sent."
    ),
    (USER_SCHEMA, "timezone"): (
        "An IANA time zone name (Europe/Oslo). Vern dates the person's deadlines and mails in "
        "it, and reads their startDate as a day there."
    ),
    (USER_SCHEMA, "active"): (
        "false ends the person's sessions at once and stops their reminders; true resumes them."
    ),
    (USER_SCHEMA, "groups"): "The department the person belongs to (exactly one, or none).",
    (GROUP_SCHEMA, "members"): (
        "A group is a Vern department, and a person is in at most one: adding a person here "
        "moves them from their previous department."
    ),
    (ENTERPRISE_SCHEMA, "department"): (
        "The name (or key) of a Vern department; an unknown name creates the department."
    ),
    (ENTERPRISE_SCHEMA, "manager"): (
        "The id of the person's manager in Vern; managers see their reporting line's progress."
    ),
}


def _trimmed(schema: Schema) -> Schema:
    urn = str(schema.id)
    kept = KEPT[urn]
    attributes = []
    for attribute in schema.attributes or []:
        name = str(attribute.name)
        if name not in kept:
            continue
        attribute = attribute.model_copy(deep=True)
        sub_names = kept[name]
        if attribute.sub_attributes is not None:
            attribute.sub_attributes = [
                sub for sub in attribute.sub_attributes if sub.name in sub_names
            ]
        if (urn, name) in DESCRIPTIONS:
            attribute.description = DESCRIPTIONS[(urn, name)]
        if (urn, name) in CANONICAL:
            attribute.canonical_values = CANONICAL[(urn, name)]
        attributes.append(attribute)
    for attribute in attributes:
        # Vern sends reminders by mail, so a person without an address is refused; and a
        # person is always either active or not, so there is no removing `active`.
        if urn == USER_SCHEMA and attribute.name in ("emails", "active"):
            attribute.required = Required.true
        if urn == USER_SCHEMA and attribute.name == "emails":
            for sub in attribute.sub_attributes or []:
                sub.required = Required.true if sub.name == "value" else Required.false
    return schema.model_copy(update={"attributes": attributes})


def vern_schema() -> Schema:
    return Schema(
        id=VERN_SCHEMA,
        name="VernUser",
        description="What Vern needs beyond the standard schemas.",
        attributes=[
            Attribute(
                name="startDate",
                type=Attribute.Type.date_time,
                multi_valued=False,
                required=Required.false,
                case_exact=CaseExact.false,
                mutability=Mutability.read_write,
                returned=Returned.default,
                uniqueness=Uniqueness.none,
                description=(
                    "The person's first working day, read back as the instant sent. Vern "
                    "counts from its date in the person's timezone: courses are due a set "
                    "number of days after it and are given shortly before it."
                ),
            )
        ],
    )


def schemas() -> list[Schema]:
    defaults = load_default_schemas()
    return [_trimmed(defaults[urn]) for urn in KEPT] + [vern_schema()]


def resource_types() -> list[ResourceType]:
    defaults = load_default_resource_types()
    user = defaults["User"].model_copy(deep=True)
    user.description = "A person who takes Vern's training"
    user.schema_extensions = [
        SchemaExtension(schema=Reference[URI](ENTERPRISE_SCHEMA), required=False),
        SchemaExtension(schema=Reference[URI](VERN_SCHEMA), required=False),
    ]
    group = defaults["Group"].model_copy(deep=True)
    group.description = "A Vern department"
    return [user, group]


def config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=Reference[External](DOCS_URL),
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Vern API token",
                description="A token with scope scim, created by an admin in Vern: "
                "Authorization: Bearer vern_…",
                primary=True,
            )
        ],
    )


@cache
def provider() -> ScimProvider:
    """The description of the service; built once, it never changes while Vern runs."""
    return ScimProvider.from_discovery(schemas(), resource_types(), config=config())
