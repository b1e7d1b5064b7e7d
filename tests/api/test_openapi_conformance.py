"""schemathesis against the served OpenAPI document: no server error, no schema violation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from sqlalchemy.orm import Session

from lms.integrations.tokens import Scope, create_token
from tests.company import Company


def test_the_api_keeps_its_documented_promises(
    app: Flask, session: Session, company: Company, now: datetime
) -> None:
    for n, person in enumerate([company.a1, company.a2, company.b1], 1):
        person.external_id = f"EMP-{n}"
        person.start_date = company.start.date()
    _, token = create_token(session, name="conformance", scope=Scope.EVIDENCE, now=now)
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = {op.path: op for op in (r.ok() for r in schema.get_all_operations())}
    assert set(operations) == {"/people/{externalId}/evidence", "/onboarding"}

    # Known-good requests first, so full 200 bodies are checked against the schema ...
    operations["/people/{externalId}/evidence"].Case(
        path_parameters={"externalId": "EMP-1"}
    ).call_and_validate(headers=headers)
    operations["/onboarding"].Case(
        query={"started_after": "2000-01-01", "per_page": 2}
    ).call_and_validate(headers=headers)

    # ... then generated ones, for anything the server might choke on.

    for operation in operations.values():

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers)

        check()
