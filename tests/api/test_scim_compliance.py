"""scim2-tester, the SCIM compliance checker, finds no failure on a live Vern (gunicorn on
127.0.0.1): discovery, then create, read, list, search, replace, patch and delete of Users
and Groups, for every attribute the schemas advertise, dateTimes included: what it sends
(a random instant, to the microsecond) is what it reads back."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import scim2_tester.checkers.patch_add
import scim2_tester.checkers.patch_replace
import scim2_tester.filling
from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from lms.db import Database
from lms.integrations.tokens import Scope, create_token
from tests.live import gunicorn

# The one check the service provider config says Vern does not do: searching every
# resource type at once (POST /.search at the root).
EXPECTED_SKIPS = {"search_with_attributes"}


def _with_datetimes(generate: Callable[..., Any], sent: list[datetime]) -> Callable[..., Any]:
    """scim2-tester fills dateTime attributes with random text, which no server may accept
    (RFC 7643 §2.3.5: xsd:dateTime); give it a random instant instead, any time of day, and
    note it in `sent`."""

    def generate_with_datetimes(context: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        value = generate(context, path, *args, **kwargs)
        binding = path.resolve()
        if value is not None and binding is not None and binding.target_type is datetime:
            start = datetime(2026, 1, 1, tzinfo=UTC)
            value = start + timedelta(microseconds=random.randrange(10**15))
            sent.append(value)
        return value

    return generate_with_datetimes


@pytest.fixture
def sent_datetimes(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The dateTimes scim2-tester sends during the test."""
    sent: list[datetime] = []
    generate = _with_datetimes(scim2_tester.filling.generate_random_value, sent)
    for module in (
        scim2_tester.filling,
        scim2_tester.checkers.patch_add,
        scim2_tester.checkers.patch_replace,
    ):
        monkeypatch.setattr(module, "generate_random_value", generate)
    return sent


def test_scim2_tester_finds_no_failure(
    fresh_database_url: str, tmp_path: Path, courses_root: Path, sent_datetimes: list[datetime]
) -> None:
    database = Database(fresh_database_url)
    with database.transaction() as session:
        _, raw = create_token(session, name="compliance", scope=Scope.SCIM, now=datetime.now(UTC))
    database.dispose()

    with gunicorn(fresh_database_url, tmp_path / "instance", courses_root) as url:
        http = Client(base_url=f"{url}/scim/v2", headers={"Authorization": f"Bearer {raw}"})
        with http:
            results = check_server(SyncSCIMClient(http))

    failures = [
        f"{result.resource_type or ''} {result.title}: {result.reason}"
        for result in results
        if result.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    assert failures == []
    # startDate was among what it created, replaced and patched, at real times of day.
    assert len(sent_datetimes) >= 3
    assert any(moment.time() != time() for moment in sent_datetimes)
    skipped = {result.title for result in results if result.status is Status.SKIPPED}
    assert skipped <= EXPECTED_SKIPS
    checked = {(result.resource_type, result.title) for result in results}
    for resource_type in ("User", "Group"):
        for check in ("object_creation", "object_replacement", "check_add_attribute"):
            assert (resource_type, check) in checked
