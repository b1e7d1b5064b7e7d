"""SCIM requests that could tie up a worker or the database: PATCHes with thousands of
operations and filters with thousands of terms are refused up front, and the operations a
PATCH may carry are applied in time that grows with their number, not its square."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.scim.compat import MAX_OPERATIONS, merged
from lms.integrations.scim.filters import MAX_FILTER_TERMS
from lms.integrations.tokens import Scope, create_token
from lms.people.models import User
from tests.api.test_scim import Scim, error
from tests.company import Company

pytestmark = pytest.mark.usefixtures("now")


@pytest.fixture
def scim(client: FlaskClient, session: Session, now: datetime, company: Company) -> Scim:
    _, raw = create_token(session, name="Entra ID", scope=Scope.SCIM, now=now)
    session.commit()
    return Scim(client, raw)


def _renames(count: int) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "displayName", "value": f"Name {n}"} for n in range(count)]


def test_a_patch_over_the_operation_cap_is_a_413_and_changes_nothing(
    scim: Scim, session: Session, company: Company
) -> None:
    before = company.a1.display_name
    response = scim.patch(f"/Users/{company.a1.id}", *_renames(MAX_OPERATIONS + 1))
    assert error(response)[0] == 413
    session.expire_all()
    assert session.get_one(User, company.a1.id).display_name == before
    assert scim.patch(f"/Users/{company.a1.id}", *_renames(MAX_OPERATIONS)).status_code == 204
    session.expire_all()
    assert session.get_one(User, company.a1.id).display_name == f"Name {MAX_OPERATIONS - 1}"


def test_runs_of_one_value_adds_are_applied_as_one_operation() -> None:
    """One revalidation of the resource per run instead of one per operation (quadratic)."""
    adds = [
        {"op": "add", "path": "emails", "value": [{"value": f"x{n}@example.test"}]}
        for n in range(1000)
    ]
    (joined,) = merged(adds)
    assert joined["value"] == [value for add in adds for value in add["value"]]


def test_merging_keeps_order_and_never_joins_what_would_differ() -> None:
    primary = {"op": "add", "path": "emails", "value": [{"value": "p@x.test", "primary": True}]}
    one = {"op": "add", "path": "emails", "value": [{"value": "a@x.test"}]}
    rename = {"op": "replace", "path": "displayName", "value": "Ola"}
    filtered = {"op": "add", "path": 'emails[type eq "work"].value', "value": ["w@x.test"]}
    assert merged([one, primary, one]) == [one, primary, one]
    assert merged([one, rename, one]) == [one, rename, one]
    assert merged([filtered, filtered]) == [filtered, filtered]


def test_runs_of_member_removals_become_one_removal_with_the_same_outcome(
    scim: Scim, session: Session, company: Company
) -> None:
    removals = [
        {"op": "remove", "path": f'members[value eq "{person.id}"]'}
        for person in (company.a1, company.a2)
    ]
    (joined,) = merged(removals)
    assert joined["path"] == (f'members[value eq "{company.a1.id}" or value eq "{company.a2.id}"]')
    group = scim.get("/Groups", filter='displayName eq "Sales"').get_json()["Resources"][0]
    gone = {"op": "remove", "path": 'members[value eq "424242"]'}  # nobody: nothing to do
    assert scim.patch(f"/Groups/{group['id']}", *removals, gone).status_code == 204
    session.expire_all()
    assert session.get_one(User, company.a1.id).department_id is None
    assert session.get_one(User, company.a2.id).department_id is None
    assert session.get_one(User, company.lead_a.id).department_id == int(group["id"])


def test_a_filter_with_too_many_terms_is_an_invalid_filter_not_a_500(scim: Scim) -> None:
    """1,000 `or` terms made SQLite fail with "Expression tree is too large"."""
    many = " or ".join(f'userName eq "u{n}@example.test"' for n in range(1000))
    assert error(scim.get("/Users", filter=many)) == (400, "invalidFilter")
    allowed = " or ".join(f'userName eq "u{n}@example.test"' for n in range(MAX_FILTER_TERMS))
    assert scim.get("/Users", filter=allowed).status_code == 200


@pytest.mark.parametrize("value", ["²", "99999999999999999999", "2147483648"])
def test_an_id_that_is_no_64_bit_number_matches_nobody(scim: Scim, value: str) -> None:
    response = scim.get("/Users", filter=f'id eq "{value}"')
    assert response.status_code == 200
    assert response.get_json()["totalResults"] == 0


# 2**31: past PostgreSQL's INTEGER, the ids' column type ("integer out of range", a 500).
@pytest.mark.parametrize("value", ["²", "99999999999999999999", "2147483648"])
@pytest.mark.parametrize("kind", ["Users", "Groups"])
def test_a_resource_id_that_is_no_64_bit_number_is_not_found(
    scim: Scim, value: str, kind: str
) -> None:
    """ "²" passed str.isdigit() and then failed int(), 20 digits overflowed the driver: 500s."""
    assert error(scim.get(f"/{kind}/{value}"))[0] == 404
    assert scim.call("DELETE", f"/{kind}/{value}").status_code == 404


def test_a_flood_of_bad_tokens_is_counted_in_one_audit_row(
    client: FlaskClient, session: Session
) -> None:
    """Each refused call wrote a row: anyone could fill the database without signing in."""
    for n in range(200):
        response = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer bad-{n}"})
        assert response.status_code == 401
    session.expire_all()
    (row,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "api.scim"))
    assert row.detail["count"] == 200
    assert row.detail["outcome"] == "refused: invalid or revoked token"
    assert row.ip == "127.0.0.1"


@pytest.mark.parametrize("start", ["99999999999999999999", str(2**63)])
def test_a_start_index_past_any_list_is_an_empty_page(scim: Scim, start: str) -> None:
    response = scim.get("/Users", startIndex=start, count="5")
    assert response.status_code == 200
    assert response.get_json().get("Resources", []) == []
    assert response.get_json()["totalResults"] > 0
