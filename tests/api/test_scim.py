"""SCIM 2.0 provisioning: what an identity provider does to Vern's people and departments,
and what Vern does about it (courses, sessions, reminders, audit), errors included."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from lms.audit.models import AuditEvent
from lms.integrations.scim.schemas import ENTERPRISE_SCHEMA, VERN_SCHEMA
from lms.integrations.tokens import Scope, create_token
from lms.people.models import Department, LoginSession, User
from lms.people.service import start_login
from lms.reminders.models import OutboxMessage
from lms.reminders.service import enqueue_due_reminders
from lms.training.models import Assignment
from tests.company import Company

pytestmark = pytest.mark.usefixtures("now")
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"


class Scim:
    """A provisioning system with a token of scope scim."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> TestResponse:
        data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        return self.client.open(
            f"/scim/v2{path}",
            method=method,
            data=data,
            headers={**self.headers, "Content-Type": SCIM_JSON, **headers},
        )

    def get(self, path: str, **query: str) -> TestResponse:
        return self.client.get(f"/scim/v2{path}", query_string=query, headers=self.headers)

    def patch(self, path: str, *operations: dict[str, Any]) -> TestResponse:
        return self.call("PATCH", path, {"schemas": [PATCH], "Operations": list(operations)})


@pytest.fixture
def scim(client: FlaskClient, session: Session, now: datetime, company: Company) -> Scim:
    _, raw = create_token(session, name="Entra ID", scope=Scope.SCIM, now=now)
    session.commit()
    return Scim(client, raw)


def new_person(**overrides: Any) -> dict[str, Any]:
    person: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE_SCHEMA, VERN_SCHEMA],
        "userName": "ola.nordmann@example.test",
        "externalId": "W-1001",
        "name": {"givenName": "Ola", "familyName": "Nordmann"},
        "emails": [{"value": "Ola.Nordmann@example.test", "type": "work", "primary": True}],
        "active": True,
        "preferredLanguage": "nb-NO",
        ENTERPRISE_SCHEMA: {"employeeNumber": "1001", "department": "Sales"},
        VERN_SCHEMA: {"startDate": "2027-01-04T00:00:00Z"},
    }
    person.update(overrides)
    return person


def error(response: TestResponse) -> tuple[int, str | None]:
    body = response.get_json()
    assert body["schemas"] == [ERROR]
    assert response.status_code == int(body["status"])
    return response.status_code, body.get("scimType")


def people(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(User)) or 0


# -- creating people ---------------------------------------------------------------------


def test_a_new_hire_is_created_with_department_manager_and_start_date(
    scim: Scim, session: Session, company: Company
) -> None:
    body = new_person()
    body[ENTERPRISE_SCHEMA]["manager"] = {"value": str(company.lead_a.id)}
    response = scim.call("POST", "/Users", body)

    assert response.status_code == 201
    created = response.get_json()
    assert response.headers["Location"].endswith(f"/scim/v2/Users/{created['id']}")
    assert response.headers["ETag"] == created["meta"]["version"]
    person = session.get_one(User, int(created["id"]))
    assert (person.email, person.full_name, person.locale) == (
        "ola.nordmann@example.test",
        "Ola Nordmann",
        "nb",
    )
    assert person.department is not None
    assert person.department.key == "sales"
    assert person.manager_id == company.lead_a.id
    assert person.start_date == date(2027, 1, 4)
    assert person.employee_number == "1001"
    courses = session.scalars(select(Assignment.course_id).where(Assignment.user_id == person.id))
    assert len(list(courses)) == 2  # basics for everyone and crm for sales
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "scim.user.create"))
    assert event is not None
    assert event.subject_user_id == person.id
    assert event.detail["token_name"] == "Entra ID"


def test_a_created_person_reads_back_as_sent(scim: Scim, company: Company) -> None:
    created = scim.call("POST", "/Users", new_person()).get_json()
    read = scim.get(f"/Users/{created['id']}").get_json()
    assert read == created
    assert read["userName"] == "ola.nordmann@example.test"
    assert read["emails"] == [
        {"value": "ola.nordmann@example.test", "type": "work", "primary": True}
    ]
    assert read[ENTERPRISE_SCHEMA]["department"] == "Sales"
    assert read[VERN_SCHEMA]["startDate"] == "2027-01-04T00:00:00Z"
    assert read["groups"][0]["display"] == "Sales"


def test_an_unknown_department_name_creates_the_department(
    scim: Scim, session: Session, company: Company
) -> None:
    body = new_person()
    body[ENTERPRISE_SCHEMA]["department"] = "Customer Success"
    assert scim.call("POST", "/Users", body).status_code == 201
    department = session.scalar(select(Department).where(Department.name == "Customer Success"))
    assert department is not None
    assert department.key == "customer-success"


def test_a_taken_user_name_or_address_is_a_409_uniqueness_and_creates_nobody(
    scim: Scim, session: Session, company: Company
) -> None:
    before = people(session)
    taken_name = new_person(userName="ADA.ONE@example.test")  # someone's address, any case
    assert error(scim.call("POST", "/Users", taken_name)) == (409, "uniqueness")
    taken_address = new_person(emails=[{"value": "ada.one@example.test"}])
    assert error(scim.call("POST", "/Users", taken_address)) == (409, "uniqueness")
    assert people(session) == before


@pytest.mark.parametrize(
    ("change", "scim_type"),
    [
        ({"nickName": "Ola"}, "invalidSyntax"),  # not an attribute Vern keeps
        ({"phoneNumbers": [{"value": "+47 22 00 00 00"}]}, "invalidSyntax"),
        ({"emails": [{"value": "not an address"}]}, "invalidValue"),
        ({"emails": []}, "invalidValue"),
        ({"active": "maybe"}, "invalidValue"),
        ({ENTERPRISE_SCHEMA: {"manager": {"value": "999999"}}}, "invalidValue"),
        ({"displayName": "x" * 201}, "invalidValue"),
    ],
)
def test_bad_people_are_refused_with_the_scim_error_and_nothing_is_written(
    scim: Scim, session: Session, change: dict[str, Any], scim_type: str
) -> None:
    before = people(session)
    status, got = error(scim.call("POST", "/Users", new_person(**change)))
    assert status == 400
    assert got == scim_type or (scim_type == "invalidSyntax" and got == "invalidValue")
    assert people(session) == before


def test_malformed_json_wrong_type_and_oversized_bodies_are_refused(scim: Scim) -> None:
    assert error(scim.call("POST", "/Users", b"{not json")) == (400, "invalidSyntax")
    response = scim.call(
        "POST", "/Users", json.dumps(new_person()), **{"Content-Type": "text/plain"}
    )
    assert error(response)[0] == 415
    huge = new_person(displayName="x" * 600_000)
    assert error(scim.call("POST", "/Users", huge))[0] == 413


# -- finding people ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scim_filter", "expected"),
    [
        ('userName eq "ADA.ONE@example.test"', ["ada.one@example.test"]),
        ('emails.value eq "bea.bee@example.test"', ["bea.bee@example.test"]),
        ('externalId eq "W-1001"', ["ola.nordmann@example.test"]),
        (
            'userName eq "ada.one@example.test" or userName eq "bea.bee@example.test"',
            ["ada.one@example.test", "bea.bee@example.test"],
        ),
        ('externalId eq "W-1001" and userName sw "ola"', ["ola.nordmann@example.test"]),
        ('externalId eq "w-1001"', []),  # externalId is case-exact
        ('name.givenName eq "Ola"', ["ola.nordmann@example.test"]),  # evaluated outside SQL
        (
            'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1001"',
            ["ola.nordmann@example.test"],
        ),
    ],
)
def test_filters_find_the_people_providers_look_up(
    scim: Scim, scim_filter: str, expected: list[str]
) -> None:
    assert scim.call("POST", "/Users", new_person()).status_code == 201
    body = scim.get("/Users", filter=scim_filter).get_json()
    assert sorted(user["userName"] for user in body["Resources"]) == expected
    assert body["totalResults"] == len(expected)


def test_a_filter_that_does_not_parse_is_a_400_invalid_filter(scim: Scim) -> None:
    assert error(scim.get("/Users", filter='userName eq "unclosed')) == (400, "invalidFilter")


def test_lists_are_paged_with_start_index_and_count(scim: Scim, session: Session) -> None:
    total = people(session)
    first = scim.get("/Users", startIndex="1", count="4").get_json()
    second = scim.get("/Users", startIndex="5", count="4").get_json()
    assert (first["totalResults"], first["itemsPerPage"], first["startIndex"]) == (total, 4, 1)
    ids = [user["id"] for user in first["Resources"] + second["Resources"]]
    assert len(set(ids)) == 8


# -- changing, deactivating, deleting ------------------------------------------------------


def _reminders_for(session: Session, person_id: int, now: datetime) -> int:
    """Reminders a sweep writes now for the person's open courses (all are overdue)."""
    ids = set(session.scalars(select(Assignment.id).where(Assignment.user_id == person_id)))
    enqueue_due_reminders(session, now, domain="example.test")
    messages = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
    return sum(message.payload["assignment_id"] in ids for message in messages)


def test_active_false_ends_sessions_and_stops_reminders_true_resumes(
    scim: Scim, session: Session, company: Company, now: datetime
) -> None:
    person_id = company.a2.id
    start_login(session, company.a2, now=now, lifetime=timedelta(hours=8), ip=None, user_agent=None)
    session.commit()

    off = scim.patch(f"/Users/{person_id}", {"op": "replace", "path": "active", "value": False})
    assert off.status_code == 204
    session.expire_all()
    assert session.get_one(User, person_id).active is False
    open_logins = select(func.count()).where(
        LoginSession.user_id == person_id, LoginSession.ended_at.is_(None)
    )
    assert session.scalar(open_logins) == 0
    assert _reminders_for(session, person_id, now) == 0
    session.rollback()

    on = scim.patch(f"/Users/{person_id}", {"op": "replace", "value": {"active": True}})
    assert on.status_code == 204
    session.expire_all()
    assert session.get_one(User, person_id).active is True
    assert _reminders_for(session, person_id, now) > 0


def test_a_manager_that_closes_a_loop_is_refused(scim: Scim, company: Company) -> None:
    # Lea leads Ada; Ada cannot become Lea's manager.
    response = scim.patch(
        f"/Users/{company.lead_a.id}",
        {
            "op": "replace",
            "path": f"{ENTERPRISE_SCHEMA}:manager.value",
            "value": str(company.a1.id),
        },
    )
    assert error(response) == (400, "invalidValue")
    assert scim.get(f"/Users/{company.lead_a.id}").get_json()[ENTERPRISE_SCHEMA]["manager"][
        "value"
    ] == str(company.boss.id)


def test_put_replaces_the_person(scim: Scim, session: Session, company: Company) -> None:
    created = scim.call("POST", "/Users", new_person()).get_json()
    replacement = new_person(name={"givenName": "Ola", "familyName": "Berg"})
    replacement[ENTERPRISE_SCHEMA] = {"department": "Operations"}
    response = scim.call("PUT", f"/Users/{created['id']}", replacement)
    assert response.status_code == 200
    person = session.get_one(User, int(created["id"]))
    session.refresh(person)
    assert person.full_name == "Ola Berg"
    assert person.department is not None
    assert person.department.key == "ops"
    assert person.employee_number is None  # not in the replacement: gone


def test_a_stale_if_match_is_a_412_and_changes_nothing(scim: Scim, company: Company) -> None:
    path = f"/Users/{company.b1.id}"
    version = scim.get(path).headers["ETag"]
    assert (
        scim.patch(path, {"op": "replace", "path": "displayName", "value": "Bea"}).status_code
        == 204
    )
    stale = scim.call(
        "PATCH",
        path,
        {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "displayName", "value": "B"}],
        },
        **{"If-Match": version},
    )
    assert stale.status_code == 412
    assert scim.get(path).get_json()["displayName"] == "Bea"


def test_delete_hides_the_person_keeps_their_history_and_a_rehire_comes_back(
    scim: Scim, session: Session, company: Company
) -> None:
    person_id = company.a1.id  # has completed basics
    history = select(func.count()).where(Assignment.user_id == person_id)
    assignments = session.scalar(history)

    assert scim.call("DELETE", f"/Users/{person_id}").status_code == 204
    assert error(scim.get(f"/Users/{person_id}")) == (404, None)
    assert (
        scim.get("/Users", filter='userName eq "ada.one@example.test"').get_json()["totalResults"]
        == 0
    )
    session.expire_all()
    person = session.get_one(User, person_id)
    assert person.active is False
    assert person.scim_deleted_at is not None
    assert session.scalar(history) == assignments

    back = new_person(userName="ada.one@example.test", emails=[{"value": "ada.one@example.test"}])
    response = scim.call("POST", "/Users", back)
    assert response.status_code == 201
    assert response.get_json()["id"] == str(person_id)  # the same person, history and all
    session.expire_all()
    assert session.get_one(User, person_id).active is True


# -- groups are departments ---------------------------------------------------------------


def test_groups_are_departments_and_members_move_between_them(
    scim: Scim, session: Session, company: Company
) -> None:
    created = scim.call(
        "POST", "/Groups", {"schemas": [GROUP], "displayName": "Security", "externalId": "g-7"}
    )
    assert created.status_code == 201
    group_id = created.get_json()["id"]
    listed = scim.get("/Groups", filter='displayName eq "security"').get_json()
    assert [group["id"] for group in listed["Resources"]] == [group_id]

    added = scim.patch(
        f"/Groups/{group_id}",
        {"op": "add", "path": "members", "value": [{"value": str(company.b1.id)}]},
    )
    assert added.status_code == 204
    session.expire_all()
    assert session.get_one(User, company.b1.id).department_id == int(group_id)
    ops = scim.get("/Groups", filter='displayName eq "Operations"').get_json()["Resources"][0]
    assert str(company.b1.id) not in {member["value"] for member in ops["members"]}

    # An active member keeps the department alive.
    assert error(scim.call("DELETE", f"/Groups/{group_id}"))[0] == 409
    removed = scim.patch(
        f"/Groups/{group_id}",
        {"op": "remove", "path": f'members[value eq "{company.b1.id}"]'},
    )
    assert removed.status_code == 204
    session.expire_all()
    assert session.get_one(User, company.b1.id).department_id is None
    assert scim.call("DELETE", f"/Groups/{group_id}").status_code == 204
    assert error(scim.get(f"/Groups/{group_id}"))[0] == 404


def test_a_second_group_with_a_department_s_name_is_a_409(scim: Scim) -> None:
    body = {"schemas": [GROUP], "displayName": "SALES"}
    assert error(scim.call("POST", "/Groups", body)) == (409, "uniqueness")


def test_a_member_who_does_not_exist_is_refused(scim: Scim, company: Company) -> None:
    group = scim.get("/Groups", filter='displayName eq "Sales"').get_json()["Resources"][0]
    response = scim.patch(
        f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": "424242"}]}
    )
    assert error(response) == (400, "invalidValue")


# -- tokens, audit, discovery -------------------------------------------------------------


def test_without_a_scim_token_nothing_is_served_and_the_refusal_is_audited(
    client: FlaskClient, session: Session, now: datetime, company: Company
) -> None:
    _, evidence = create_token(session, name="reader", scope=Scope.EVIDENCE, now=now)
    session.commit()
    anonymous = client.get("/scim/v2/Users")
    assert error(anonymous)[0] == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong_scope = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {evidence}"})
    assert error(wrong_scope)[0] == 401
    in_url = client.get(f"/scim/v2/Users?access_token={evidence}")
    assert error(in_url)[0] == 400
    outcomes = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "api.scim").order_by(AuditEvent.id)
    )
    assert [detail["outcome"].split(":")[0] for detail in outcomes] == ["refused"] * 3


def test_every_call_is_audited_with_its_token(scim: Scim, session: Session) -> None:
    scim.get("/Users")
    scim.get("/Groups")
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "api.scim")))
    assert [(e.detail["outcome"], e.detail["token_name"]) for e in events] == [
        ("accepted", "Entra ID")
    ] * 2


def test_discovery_tells_what_vern_supports(scim: Scim, client: FlaskClient) -> None:
    config = client.get("/scim/v2/ServiceProviderConfig").get_json()  # needs no token
    assert config["patch"]["supported"] is True
    assert config["filter"] == {"supported": True, "maxResults": 200}
    assert config["bulk"]["supported"] is False
    assert config["sort"]["supported"] is False
    assert config["etag"]["supported"] is True
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"

    schemas = {s["id"]: s for s in scim.get("/Schemas").get_json()["Resources"]}
    assert set(schemas) == {USER, GROUP, ENTERPRISE_SCHEMA, VERN_SCHEMA}
    user_attributes = {a["name"] for a in schemas[USER]["attributes"]}
    assert "phoneNumbers" not in user_attributes
    assert "addresses" not in user_attributes
    assert {"userName", "name", "emails", "active"} <= user_attributes
    types = {t["id"]: t for t in scim.get("/ResourceTypes").get_json()["Resources"]}
    assert {e["schema"] for e in types["User"]["schemaExtensions"]} == {
        ENTERPRISE_SCHEMA,
        VERN_SCHEMA,
    }


def test_entra_style_patches_work_on_people_vern_already_had(
    scim: Scim, session: Session, company: Company
) -> None:
    """Entra ID capitalises ops, sends booleans as text and addresses by type; people who
    came from the CSV import have a work address like anyone provisioned."""
    response = scim.patch(
        f"/Users/{company.a2.id}",
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ari@example.test"},
    )
    assert response.status_code == 204
    session.expire_all()
    person = session.get_one(User, company.a2.id)
    assert (person.active, person.email) == (False, "ari@example.test")
