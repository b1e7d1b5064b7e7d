"""What Microsoft Entra ID and Okta really send, replayed in their order, and what Vern does.

The request bodies are the providers' published ones, changed only in ids, names and
addresses:
- Microsoft Entra ID, "Tutorial: Develop and plan provisioning for a SCIM endpoint in
  Microsoft Entra ID" (User and Group operations, the example user with a plain-string
  manager, "Example 5" adding a manager):
  https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
  and "Known issues and resolutions with SCIM 2.0 protocol compliance" (the PATCH forms with
  and without the aadOptscim062020 flag):
  https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility
- Okta, "Okta and SCIM Version 2.0" (create, read, PUT, deactivate, groups):
  https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20 (formerly
  https://developer.okta.com/docs/reference/scim/scim-20/)
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.scim.models import ScimUserDetail
from lms.integrations.scim.schemas import ENTERPRISE_SCHEMA, VERN_SCHEMA
from lms.integrations.tokens import Scope, create_token
from lms.people.models import User
from lms.people.service import create_user, deactivate
from lms.privacy import erasure
from lms.privacy.my_data import my_data
from tests.api.test_scim import ERROR, GROUP, PATCH, Scim, error, new_person, people
from tests.company import Company

pytestmark = pytest.mark.usefixtures("now")
ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


@pytest.fixture
def scim(client: FlaskClient, session: Session, now: datetime, company: Company) -> Scim:
    """A provisioning system with a token of scope scim, as the tests in test_scim use."""
    _, raw = create_token(session, name="Identity provider", scope=Scope.SCIM, now=now)
    session.commit()
    return Scim(client, raw)


def _person(session: Session, person_id: str) -> User:
    session.expire_all()
    return session.get_one(User, int(person_id))


def _patch(scim: Scim, path: str, operations: list[dict[str, Any]]) -> Any:
    """A PATCH exactly as the providers lay it out (schemas, Operations)."""
    return scim.call("PATCH", path, {"schemas": [PATCH], "Operations": operations})


# -- Microsoft Entra ID -------------------------------------------------------------------

ENTRA_USER_NAME = "Test_User_00aa00aa@contoso.example"
ENTRA_CREATE_USER = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": ENTRA_USER_NAME,
    "active": True,
    "emails": [{"primary": True, "type": "work", "value": "Test_User_11bb11bb@contoso.example"}],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}


def test_entra_user_lifecycle_is_accepted_from_test_connection_to_delete(
    scim: Scim, session: Session, company: Company
) -> None:
    # Test Connection and the first cycle look the person up before creating them.
    missing = scim.get("/Users", filter='userName eq "non-existent user"')
    assert missing.status_code == 200
    assert missing.get_json()["totalResults"] == 0
    assert missing.get_json()["Resources"] == []

    created = scim.call("POST", "/Users", ENTRA_CREATE_USER)
    assert created.status_code == 201
    body = created.get_json()
    assert "roles" not in body
    assert body["userName"] == ENTRA_USER_NAME
    assert body["externalId"] == ENTRA_CREATE_USER["externalId"]
    assert body["name"] == ENTRA_CREATE_USER["name"]
    assert body["emails"] == [
        {"value": "test_user_11bb11bb@contoso.example", "type": "work", "primary": True}
    ]
    assert body["active"] is True
    person_id = body["id"]
    assert scim.get(f"/Users/{person_id}").get_json() == body
    found = scim.get("/Users", filter=f'userName eq "{ENTRA_USER_NAME}"').get_json()
    assert [user["id"] for user in found["Resources"]] == [person_id]
    by_mail = scim.get(
        "/Users", filter='emails[type eq "work"].value eq "test_user_11bb11bb@contoso.example"'
    )
    assert [user["id"] for user in by_mail.get_json()["Resources"]] == [person_id]

    # Update User [Multi-valued properties]
    response = _patch(
        scim,
        f"/Users/{person_id}",
        [
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@contoso.example",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ],
    )
    assert response.status_code == 204
    person = _person(session, person_id)
    assert (person.email, person.family_name, person.given_name) == (
        "updatedemail@contoso.example",
        "updatedFamilyName",
        "givenName",
    )

    # Update User [Single-valued properties]
    new_name = "5b50642d-79fc-4410-9e90-4c077cdd1a59@contoso.example"
    response = _patch(
        scim, f"/Users/{person_id}", [{"op": "Replace", "path": "userName", "value": new_name}]
    )
    assert response.status_code == 204
    assert scim.get(f"/Users/{person_id}").get_json()["userName"] == new_name

    # Disable User
    response = _patch(
        scim, f"/Users/{person_id}", [{"op": "Replace", "path": "active", "value": False}]
    )
    assert response.status_code == 204
    assert _person(session, person_id).active is False

    # Delete User
    assert scim.call("DELETE", f"/Users/{person_id}").status_code == 204
    gone = scim.get(f"/Users/{person_id}")
    assert error(gone) == (404, None)
    assert gone.get_json()["status"] == "404"  # RFC 7644 §3.12: a string


def test_entra_manager_arrives_as_a_value_list_a_plain_string_or_an_object(
    scim: Scim, session: Session, company: Company
) -> None:
    person_id = scim.call("POST", "/Users", ENTRA_CREATE_USER).get_json()["id"]
    # "Example 5": path "manager", its value a list of one reference.
    response = _patch(
        scim,
        f"/Users/{person_id}",
        [
            {
                "op": "Add",
                "path": "manager",
                "value": [
                    {
                        "$ref": f"http://vern.example/scim/v2/Users/{company.lead_a.id}",
                        "value": str(company.lead_a.id),
                    }
                ],
            }
        ],
    )
    assert response.status_code == 204
    assert _person(session, person_id).manager_id == company.lead_a.id

    # The schema example's manager, a plain string, on the extension's attribute.
    response = _patch(
        scim,
        f"/Users/{person_id}",
        [{"op": "Add", "path": f"{ENTERPRISE_SCHEMA}:manager", "value": str(company.boss.id)}],
    )
    assert response.status_code == 204
    assert _person(session, person_id).manager_id == company.boss.id
    read = scim.get(f"/Users/{person_id}").get_json()
    assert read[ENTERPRISE_SCHEMA]["manager"]["value"] == str(company.boss.id)

    # And in a whole resource (PUT), as the example user carries it.
    replacement = {**ENTRA_CREATE_USER, ENTERPRISE_SCHEMA: {"manager": str(company.lead_a.id)}}
    assert scim.call("PUT", f"/Users/{person_id}", replacement).status_code == 200
    assert _person(session, person_id).manager_id == company.lead_a.id

    # Taking the manager away.
    response = _patch(scim, f"/Users/{person_id}", [{"op": "Remove", "path": "manager"}])
    assert response.status_code == 204
    assert _person(session, person_id).manager_id is None

    # A manager who is no one in Vern is still refused, as SCIM says.
    response = _patch(
        scim,
        f"/Users/{person_id}",
        [{"op": "Add", "path": f"{ENTERPRISE_SCHEMA}:manager", "value": "999999"}],
    )
    assert error(response) == (400, "invalidValue")
    assert _person(session, person_id).manager_id is None


def test_entra_checks_the_manager_with_a_filter_before_setting_it(
    scim: Scim, company: Company
) -> None:
    """ "Example 4": Entra asks whether the person already has the manager it is about to set."""
    person, manager = company.a1.id, company.lead_a.id
    for scim_filter, expected in [
        (f'id eq "{person}" and manager eq "{manager}"', [str(person)]),
        (f'id eq "{person}" and manager eq "{company.boss.id}"', []),
        (f'{ENTERPRISE_SCHEMA}:manager.value eq "{manager}" and id eq "{person}"', [str(person)]),
    ]:
        found = scim.get("/Users", filter=scim_filter)
        assert found.status_code == 200
        assert [user["id"] for user in found.get_json()["Resources"]] == expected
    unknown = scim.get("/Users", filter='nickName eq "Ada"')
    assert error(unknown) == (400, "invalidFilter")


def test_entra_patches_without_and_with_the_compliance_flag_both_work(
    scim: Scim, session: Session, company: Company
) -> None:
    person_id = scim.call("POST", "/Users", ENTRA_CREATE_USER).get_json()["id"]
    without_flag = [
        {"op": "Replace", "path": "displayName", "value": "Pvlo"},
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "TestBcwqnm@contoso.example",
        },
        {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
        {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
        {"op": "Replace", "path": "externalId", "value": "Eqpj"},
        {"op": "Replace", "path": f"{ENTERPRISE_SCHEMA}:employeeNumber", "value": "Eqpj"},
    ]
    assert _patch(scim, f"/Users/{person_id}", without_flag).status_code == 204
    person = _person(session, person_id)
    assert (person.display_name, person.given_name, person.family_name) == ("Pvlo", "Gtfd", "Pkqf")
    assert (person.external_id, person.employee_number) == ("Eqpj", "Eqpj")
    assert person.email == "testbcwqnm@contoso.example"

    with_flag = [
        {
            "op": "replace",
            "path": 'emails[type eq "work"].value',
            "value": "TestMhvaes@contoso.example",
        },
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                f"{ENTERPRISE_SCHEMA}:employeeNumber": "Aklq",
            },
        },
    ]
    assert _patch(scim, f"/Users/{person_id}", with_flag).status_code == 204
    person = _person(session, person_id)
    assert (person.display_name, person.given_name, person.family_name) == ("Bjfe", "Kkom", "Unua")
    assert (person.employee_number, person.email) == ("Aklq", "testmhvaes@contoso.example")

    # Disabling: "False" as text without the flag, a boolean with it.
    assert (
        _patch(
            scim, f"/Users/{person_id}", [{"op": "Replace", "path": "active", "value": "False"}]
        ).status_code
        == 204
    )
    assert _person(session, person_id).active is False
    assert (
        _patch(
            scim, f"/Users/{person_id}", [{"op": "replace", "path": "active", "value": True}]
        ).status_code
        == 204
    )
    assert _person(session, person_id).active is True


def test_entra_group_lifecycle_with_microsoft_s_schema_and_value_list_removal(
    scim: Scim, session: Session, company: Company
) -> None:
    member_id = scim.call("POST", "/Users", ENTRA_CREATE_USER).get_json()["id"]
    created = scim.call(
        "POST",
        "/Groups",
        {
            "schemas": [GROUP, ADSCIM_GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Contoso Security",
            "meta": {"resourceType": "Group"},
        },
    )
    assert created.status_code == 201
    group = created.get_json()
    assert group["schemas"] == [GROUP]
    assert (group["displayName"], group["externalId"]) == (
        "Contoso Security",
        "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    )
    group_id = group["id"]

    read = scim.get(f"/Groups/{group_id}", excludedAttributes="members")
    assert read.status_code == 200
    assert "members" not in read.get_json()
    listed = scim.get(
        "/Groups", excludedAttributes="members", filter='displayName eq "Contoso Security"'
    ).get_json()
    assert [g["id"] for g in listed["Resources"]] == [group_id]

    renamed = _patch(
        scim,
        f"/Groups/{group_id}",
        [{"op": "Replace", "path": "displayName", "value": "Contoso Security Team"}],
    )
    assert renamed.status_code == 204
    assert scim.get(f"/Groups/{group_id}").get_json()["displayName"] == "Contoso Security Team"

    added = _patch(
        scim,
        f"/Groups/{group_id}",
        [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": member_id}]}],
    )
    assert added.status_code == 204
    assert _person(session, member_id).department_id == int(group_id)

    # Remove Members, as Entra sends it without the flag: a value list, no filter.
    removed = _patch(
        scim,
        f"/Groups/{group_id}",
        [{"op": "Remove", "path": "members", "value": [{"$ref": None, "value": member_id}]}],
    )
    assert removed.status_code == 204
    assert _person(session, member_id).department_id is None

    # The same person in again, and out with the flag's filtered path.
    _patch(
        scim,
        f"/Groups/{group_id}",
        [{"op": "Add", "path": "members", "value": [{"value": member_id}]}],
    )
    flagged = _patch(
        scim, f"/Groups/{group_id}", [{"op": "remove", "path": f'members[value eq "{member_id}"]'}]
    )
    assert flagged.status_code == 204
    assert _person(session, member_id).department_id is None

    assert scim.call("DELETE", f"/Groups/{group_id}").status_code == 204
    assert error(scim.get(f"/Groups/{group_id}"))[0] == 404


def test_a_value_list_removal_takes_out_only_the_members_named(
    scim: Scim, session: Session, company: Company
) -> None:
    """RFC 7644 says a remove on `members` without a filter empties the group; Entra means
    only the members in its value list, and that is what happens."""
    sales = scim.get("/Groups", filter='displayName eq "Sales"').get_json()["Resources"][0]
    members = [member["value"] for member in sales["members"]]
    assert len(members) >= 2
    response = _patch(
        scim,
        f"/Groups/{sales['id']}",
        [{"op": "Remove", "path": "members", "value": [{"value": members[0]}]}],
    )
    assert response.status_code == 204
    after = scim.get(f"/Groups/{sales['id']}").get_json()
    assert [member["value"] for member in after["members"]] == members[1:]


# -- Okta ------------------------------------------------------------------------------------


def okta_user(user_name: str, external_id: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def test_okta_user_lifecycle_keeps_locale_and_never_the_password(
    scim: Scim, session: Session, company: Company
) -> None:
    lookup = scim.get(
        "/Users", filter='userName eq "test.user@okta.example"', startIndex="1", count="100"
    )
    assert lookup.get_json()["totalResults"] == 0

    created = scim.call(
        "POST", "/Users", okta_user("test.user@okta.example", "00ujl29u0le5T6Aj10h7")
    )
    assert created.status_code == 201
    body = created.get_json()
    assert "password" not in body
    assert (body["locale"], body["displayName"], body["externalId"]) == (
        "en-US",
        "Test User",
        "00ujl29u0le5T6Aj10h7",
    )
    person_id = body["id"]
    person = _person(session, person_id)
    assert person.password_hash is None
    assert person.locale == "en"
    events = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.subject_user_id == person.id)
    )
    assert all("1mz050nq" not in str(detail) for detail in events)

    # PUT: Okta reads the person, changes what changed and sends the whole body back, with
    # its id, meta, a middle name and the emails' display.
    read = scim.get(f"/Users/{person_id}").get_json()
    assert read == body
    replacement = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": person_id,
        "userName": "test.user@okta.example",
        "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
        "emails": [
            {
                "primary": True,
                "value": "test.user@okta.example",
                "type": "work",
                "display": "test.user@okta.example",
            }
        ],
        "active": True,
        "groups": [],
        "meta": {"resourceType": "User"},
    }
    replaced = scim.call("PUT", f"/Users/{person_id}", replacement)
    assert replaced.status_code == 200
    assert replaced.get_json()["name"] == {"givenName": "Another", "familyName": "User"}
    person = _person(session, person_id)
    assert person.full_name == "Another User"

    # Password sync changes nothing Vern keeps: a 204, and the version stays.
    version = scim.get(f"/Users/{person_id}").headers["ETag"]
    synced = _patch(
        scim, f"/Users/{person_id}", [{"op": "replace", "value": {"password": "t1meMa$heen"}}]
    )
    assert synced.status_code == 204
    assert scim.get(f"/Users/{person_id}").headers["ETag"] == version
    assert _person(session, person_id).password_hash is None

    # Deactivation.
    off = _patch(scim, f"/Users/{person_id}", [{"op": "replace", "value": {"active": False}}])
    assert off.status_code == 204
    assert _person(session, person_id).active is False


def test_okta_group_push_rename_and_membership(
    scim: Scim, session: Session, company: Company
) -> None:
    first = scim.call("POST", "/Users", okta_user("test.user@okta.example", "00u1")).get_json()
    second = scim.call("POST", "/Users", okta_user("other.user@okta.example", "00u2")).get_json()

    created = scim.call(
        "POST",
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Test SCIMv2",
            "members": [],
        },
    )
    assert created.status_code == 201
    group_id = created.get_json()["id"]
    listing = scim.get("/Groups", startIndex="1", count="100").get_json()
    assert group_id in {group["id"] for group in listing["Resources"]}

    # The rename repeats the group's id in its value.
    renamed = _patch(
        scim,
        f"/Groups/{group_id}",
        [{"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv20"}}],
    )
    assert renamed.status_code == 204
    assert scim.get(f"/Groups/{group_id}").get_json()["displayName"] == "Test SCIMv20"

    # A filtered remove of someone not in the group and an add with display.
    membership = _patch(
        scim,
        f"/Groups/{group_id}",
        [
            {"op": "remove", "path": f'members[value eq "{second["id"]}"]'},
            {
                "op": "add",
                "path": "members",
                "value": [{"value": first["id"], "display": "test.user@okta.example"}],
            },
        ],
    )
    assert membership.status_code == 204
    assert _person(session, first["id"]).department_id == int(group_id)

    # A full push of the membership.
    pushed = _patch(
        scim,
        f"/Groups/{group_id}",
        [
            {
                "op": "replace",
                "path": "members",
                "value": [
                    {"value": first["id"], "display": "test.user@okta.example"},
                    {"value": second["id"], "display": "other.user@okta.example"},
                ],
            }
        ],
    )
    assert pushed.status_code == 204
    read = scim.get(f"/Groups/{group_id}").get_json()
    assert sorted(member["value"] for member in read["members"]) == sorted(
        [first["id"], second["id"]]
    )

    # Vern keeps a department with active people; once Okta deactivates them it may go.
    assert error(scim.call("DELETE", f"/Groups/{group_id}"))[0] == 409
    for person in (first, second):
        _patch(scim, f"/Users/{person['id']}", [{"op": "replace", "value": {"active": False}}])
    assert scim.call("DELETE", f"/Groups/{group_id}").status_code == 204


# -- ignored, mapped and still validated --------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"roles": [{"value": "admin", "primary": True}]},
        {"entitlements": [{"value": "vpn"}]},
        {"x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}]},
        {"password": "t1meMa$heen"},
        {"name": {"givenName": "Ola", "middleName": "Mellom", "familyName": "Nordmann"}},
        {"meta": {"resourceType": "User", "created": "2020-01-01T00:00:00Z"}},
        {"title": None, "phoneNumbers": None, "addresses": None},
    ],
)
def test_attributes_vern_does_not_keep_are_accepted_and_not_stored(
    scim: Scim, session: Session, extra: dict[str, Any]
) -> None:
    response = scim.call("POST", "/Users", new_person(**extra))
    assert response.status_code == 201
    body = response.get_json()
    for name in ("roles", "entitlements", "x509Certificates", "password", "title"):
        assert name not in body
    assert body["name"] == {"givenName": "Ola", "familyName": "Nordmann"}
    assert body["meta"]["created"] != "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Add", "path": "roles", "value": [{"value": "admin", "primary": True}]},
        {"op": "Replace", "path": "x509Certificates", "value": [{"value": "MIIDQzCCAqyg"}]},
        {"op": "Add", "path": "entitlements", "value": [{"value": "vpn"}]},
        {"op": "replace", "path": "name.middleName", "value": "Mellom"},
        {"op": "replace", "path": "password", "value": "t1meMa$heen"},
    ],
)
def test_a_patch_of_an_ignored_attribute_is_a_204_that_changes_nothing(
    scim: Scim, session: Session, company: Company, operation: dict[str, Any]
) -> None:
    path = f"/Users/{company.b1.id}"
    version = scim.get(path).headers["ETag"]
    assert _patch(scim, path, [operation]).status_code == 204
    assert scim.get(path).headers["ETag"] == version


@pytest.mark.parametrize(
    "body",
    [
        {"schemas": [PATCH]},
        {"schemas": [PATCH], "Operations": []},
        {"schemas": [PATCH], "Operations": "replace"},
        [{"op": "replace", "path": "active", "value": False}],
        {"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{}]}]},
    ],
)
def test_a_malformed_patch_is_a_400_and_changes_nothing(
    scim: Scim, session: Session, company: Company, body: Any
) -> None:
    group = scim.get("/Groups", filter='displayName eq "Sales"').get_json()["Resources"][0]
    response = scim.call("PATCH", f"/Groups/{group['id']}", body)
    assert error(response)[0] == 400
    assert scim.get(f"/Groups/{group['id']}").get_json() == group


def test_attributes_vern_knows_nothing_about_are_still_refused(
    scim: Scim, session: Session
) -> None:
    before = people(session)
    assert error(scim.call("POST", "/Users", new_person(nickName="Ola")))[0] == 400
    person_id = scim.call("POST", "/Users", new_person()).get_json()["id"]
    response = _patch(
        scim, f"/Users/{person_id}", [{"op": "replace", "value": {"nickName": "Ola"}}]
    )
    assert error(response)[0] == 400
    assert people(session) == before + 1


@pytest.mark.parametrize(
    ("attribute", "value", "language"),
    [
        ("preferredLanguage", "nb", "nb"),
        ("preferredLanguage", "no", "nb"),
        ("preferredLanguage", "nn", "nb"),
        ("preferredLanguage", "nb-NO", "nb"),
        ("preferredLanguage", "en", "en"),
        ("preferredLanguage", "en-GB", "en"),
        ("locale", "nb-NO", "nb"),
        ("locale", "nb_NO", "nb"),
        ("locale", "nn-NO", "nb"),
        ("locale", "en-US", "en"),
    ],
)
def test_locale_and_preferred_language_choose_the_person_s_language(
    scim: Scim, session: Session, attribute: str, value: str, language: str
) -> None:
    body = new_person()
    body.pop("preferredLanguage")
    body[attribute] = value
    # Start from the other language, so the mapping is what changes it.
    other = "en" if language == "nb" else "nb"
    seed = scim.call("POST", "/Users", {**new_person(), "preferredLanguage": other}).get_json()
    assert _person(session, seed["id"]).locale == other
    response = scim.call("PUT", f"/Users/{seed['id']}", body)
    assert response.status_code == 200
    assert response.get_json()[attribute] == value  # read back as sent
    assert _person(session, seed["id"]).locale == language


def test_a_locale_that_is_no_language_tag_is_refused(scim: Scim, session: Session) -> None:
    before = people(session)
    assert error(scim.call("POST", "/Users", new_person(locale="Norsk, takk"))) == (
        400,
        "invalidValue",
    )
    assert people(session) == before


def test_preferred_language_wins_over_locale(scim: Scim, session: Session) -> None:
    body = new_person(preferredLanguage="en-GB", locale="nb-NO")
    person_id = scim.call("POST", "/Users", body).get_json()["id"]
    assert _person(session, person_id).locale == "en"


def test_timezone_is_kept_and_a_name_that_is_none_is_refused(scim: Scim, session: Session) -> None:
    before = people(session)
    assert error(scim.call("POST", "/Users", new_person(timezone="Mars/Olympus"))) == (
        400,
        "invalidValue",
    )
    assert error(scim.call("POST", "/Users", new_person(timezone="../../etc/passwd")))[0] == 400
    assert people(session) == before
    created = scim.call("POST", "/Users", new_person(timezone="America/New_York")).get_json()
    assert created["timezone"] == "America/New_York"
    assert _person(session, created["id"]).timezone == "America/New_York"
    response = _patch(
        scim, f"/Users/{created['id']}", [{"op": "replace", "path": "timezone", "value": "Oslo"}]
    )
    assert error(response) == (400, "invalidValue")
    assert _person(session, created["id"]).timezone == "America/New_York"


# -- startDate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "read_back", "day"),
    [
        ("2027-03-31T09:30:00Z", "2027-03-31T09:30:00Z", date(2027, 3, 31)),
        # 23:30 UTC is already the next day in Oslo, where the person works.
        ("2027-03-31T23:30:00Z", "2027-03-31T23:30:00Z", date(2027, 4, 1)),
        ("2027-03-31T09:30:00+02:00", "2027-03-31T07:30:00Z", date(2027, 3, 31)),
        ("2027-01-04T00:00:00Z", "2027-01-04T00:00:00Z", date(2027, 1, 4)),
        ("2027-03-31T09:30:15.250000Z", "2027-03-31T09:30:15.250000Z", date(2027, 3, 31)),
    ],
)
def test_start_date_reads_back_as_the_instant_sent_and_counts_as_the_local_day(
    scim: Scim, session: Session, sent: str, read_back: str, day: date
) -> None:
    body = new_person()
    body[VERN_SCHEMA] = {"startDate": sent}
    created = scim.call("POST", "/Users", body)
    assert created.status_code == 201
    assert created.get_json()[VERN_SCHEMA]["startDate"] == read_back
    person_id = created.get_json()["id"]
    assert scim.get(f"/Users/{person_id}").get_json()[VERN_SCHEMA]["startDate"] == read_back
    assert _person(session, person_id).start_date == day

    replaced = _patch(
        scim,
        f"/Users/{person_id}",
        [{"op": "replace", "path": f"{VERN_SCHEMA}:startDate", "value": "2027-05-02T13:45:00Z"}],
    )
    assert replaced.status_code == 204
    read = scim.get(f"/Users/{person_id}").get_json()
    assert read[VERN_SCHEMA]["startDate"] == "2027-05-02T13:45:00Z"
    assert _person(session, person_id).start_date == date(2027, 5, 2)


@pytest.mark.parametrize("sent", ["31.03.2027", "2027-02-30T00:00:00Z", "soon"])
def test_a_start_date_that_is_no_datetime_is_refused(
    scim: Scim, session: Session, sent: str
) -> None:
    before = people(session)
    body = new_person()
    body[VERN_SCHEMA] = {"startDate": sent}
    assert error(scim.call("POST", "/Users", body)) == (400, "invalidValue")
    assert people(session) == before


def test_a_new_time_zone_moves_the_start_day_of_a_sent_instant(
    scim: Scim, session: Session
) -> None:
    body = new_person()
    body[VERN_SCHEMA] = {"startDate": "2027-03-31T23:30:00Z"}
    person_id = scim.call("POST", "/Users", body).get_json()["id"]
    assert _person(session, person_id).start_date == date(2027, 4, 1)  # Oslo
    _patch(
        scim,
        f"/Users/{person_id}",
        [{"op": "replace", "path": "timezone", "value": "America/New_York"}],
    )
    assert _person(session, person_id).start_date == date(2027, 3, 31)
    read = scim.get(f"/Users/{person_id}").get_json()
    assert read[VERN_SCHEMA]["startDate"] == "2027-03-31T23:30:00Z"


def test_a_start_date_changed_in_vern_reads_back_as_that_day(scim: Scim, session: Session) -> None:
    body = new_person()
    body[VERN_SCHEMA] = {"startDate": "2027-03-31T09:30:00Z"}
    person_id = scim.call("POST", "/Users", body).get_json()["id"]
    person = _person(session, person_id)
    person.start_date = date(2027, 6, 1)  # as the admin page does
    session.commit()
    read = scim.get(f"/Users/{person_id}").get_json()
    assert read[VERN_SCHEMA]["startDate"] == "2027-06-01T00:00:00+02:00"


# -- PATCH writes only what it changes ---------------------------------------------------------


def test_a_patch_leaves_alone_what_it_did_not_send_on_someone_added_in_vern(
    scim: Scim, session: Session, now: datetime
) -> None:
    """People added on the admin page or by the CSV import have a full name but no SCIM name
    parts; a PATCH used to rewrite every column from the resource and so made their email
    their name."""
    person = create_user(
        session,
        email="kari.nordmann@example.test",
        full_name="Kari Nordmann",
        now=now,
        start_date=date(2027, 2, 1),
        locale="nb",
        timezone="Europe/Stockholm",
    )
    session.commit()
    path = f"/Users/{person.id}"
    before = scim.get(path).get_json()
    assert before[VERN_SCHEMA]["startDate"] == "2027-02-01T00:00:00+01:00"

    assert (
        _patch(scim, path, [{"op": "replace", "path": "active", "value": False}]).status_code == 204
    )
    person = _person(session, str(person.id))
    assert person.active is False
    assert (person.full_name, person.locale, person.timezone, person.start_date) == (
        "Kari Nordmann",
        "nb",
        "Europe/Stockholm",
        date(2027, 2, 1),
    )
    assert (person.given_name, person.display_name, person.preferred_language) == (None, None, None)
    assert session.get(ScimUserDetail, person.id) is None

    assert (
        _patch(scim, path, [{"op": "replace", "path": "externalId", "value": "HR-77"}]).status_code
        == 204
    )
    person = _person(session, str(person.id))
    assert (person.external_id, person.full_name) == ("HR-77", "Kari Nordmann")
    after = scim.get(path).get_json()
    assert after[VERN_SCHEMA] == before[VERN_SCHEMA]
    assert after["userName"] == before["userName"]


def test_a_patch_of_the_name_changes_the_name(
    scim: Scim, session: Session, company: Company
) -> None:
    response = _patch(
        scim,
        f"/Users/{company.a1.id}",
        [{"op": "add", "path": "name", "value": {"givenName": "Ada", "familyName": "Lovelace"}}],
    )
    assert response.status_code == 204
    assert _person(session, str(company.a1.id)).full_name == "Ada Lovelace"


def test_a_put_still_clears_what_it_leaves_out(scim: Scim, session: Session) -> None:
    body = new_person(timezone="Europe/London", locale="en-GB")
    person_id = scim.call("POST", "/Users", body).get_json()["id"]
    replacement = new_person()
    replacement.pop(VERN_SCHEMA)
    replacement[ENTERPRISE_SCHEMA] = {}
    assert scim.call("PUT", f"/Users/{person_id}", replacement).status_code == 200
    person = _person(session, person_id)
    assert (person.start_date, person.employee_number, person.department_id) == (None, None, None)
    read = scim.get(f"/Users/{person_id}").get_json()
    assert "locale" not in read
    assert VERN_SCHEMA not in read
    assert "timezone" not in read
    assert person.timezone == "Europe/London"  # the person keeps their clock


def test_the_error_body_follows_rfc_7644(scim: Scim) -> None:
    response = scim.call("POST", "/Users", new_person(timezone="Nowhere"))
    body = response.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "400"
    assert body["scimType"] == "invalidValue"
    assert "timezone" in body["detail"]
    assert response.headers["Content-Type"].startswith("application/scim+json")


# -- what the provider sent is the person's data ---------------------------------------------


def test_my_data_shows_what_the_provider_sent_and_erasure_forgets_it(
    scim: Scim, session: Session, company: Company, now: datetime
) -> None:
    body = new_person(locale="nb-NO", timezone="Europe/Oslo")
    body[VERN_SCHEMA] = {"startDate": "2027-03-31T09:30:00Z"}
    person_id = scim.call("POST", "/Users", body).get_json()["id"]
    person = _person(session, person_id)

    sent = my_data(session, person, now)["profile"]["from_your_employer_s_systems"]
    assert (sent["start"], sent["locale"], sent["timezone"]) == (
        "2027-03-31T09:30:00Z",
        "nb-NO",
        "Europe/Oslo",
    )

    deactivate(session, person, now)
    erasure.erase_person(session, person, now=now, actor_id=company.admin.id, reason="admin")
    session.expire_all()
    assert session.get(ScimUserDetail, person.id) is None
