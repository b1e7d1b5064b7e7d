"""Vern always keeps an active admin: nobody else can grant a role back. Deactivating,
demoting and (through people_admin and the import) changing the last one is refused."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.admin import people_admin
from lms.admin import people_import as importer
from lms.admin.people_import import ProblemKind
from lms.audit.models import AuditEvent
from lms.db import Database
from lms.people import service as people
from lms.people.models import Role, User
from tests import factories


def _admin(session: Session, now: datetime, email: str = "admin@example.test") -> User:
    return factories.user(session, now, email=email, roles=frozenset({Role.ADMIN}))


def test_the_last_active_admin_cannot_be_deactivated(session: Session, now: datetime) -> None:
    admin = _admin(session, now)
    with pytest.raises(people.LastActiveAdmin):
        people.deactivate(session, admin, now)
    assert admin.active is True


def test_an_admin_can_leave_while_another_admin_is_active(session: Session, now: datetime) -> None:
    admin = _admin(session, now)
    other = _admin(session, now, "other@example.test")
    people.deactivate(session, admin, now)
    assert admin.active is False
    with pytest.raises(people.LastActiveAdmin):  # and now the other one is the last
        people.deactivate(session, other, now)


def test_an_admin_who_has_left_does_not_count(session: Session, now: datetime) -> None:
    admin = _admin(session, now)
    gone = _admin(session, now, "gone@example.test")
    gone.active = False
    session.flush()
    with pytest.raises(people.LastActiveAdmin):
        people.set_roles(session, admin, frozenset({Role.HR}))
    assert admin.roles == {Role.ADMIN}


def test_people_who_are_not_admins_come_and_go_freely(session: Session, now: datetime) -> None:
    hr = factories.user(session, now, email="hr@example.test", roles=frozenset({Role.HR}))
    people.set_roles(session, hr, frozenset())
    people.deactivate(session, hr, now)
    assert (hr.active, hr.roles) == (False, frozenset())


def _set_roles(session: Session, admin: User, now: datetime, *roles: Role) -> None:
    """Change only the roles, as the person page does."""
    people_admin.update_person(
        session,
        admin,
        department=None,
        manager=None,
        start_date=None,
        locale="en",
        roles=frozenset(roles),
        actor_id=admin.id,
        now=now,
    )


def test_the_last_admin_keeps_admin_but_may_gain_other_roles(
    session: Session, now: datetime
) -> None:
    admin = _admin(session, now)
    _set_roles(session, admin, now, Role.ADMIN, Role.HR)
    assert admin.roles == {Role.ADMIN, Role.HR}
    with pytest.raises(people.LastActiveAdmin):
        _set_roles(session, admin, now, Role.HR)
    with pytest.raises(people.LastActiveAdmin):
        people_admin.deactivate_person(session, admin, reassign_to=None, actor_id=None, now=now)


def test_granting_and_revoking_a_role_is_audited(session: Session, now: datetime) -> None:
    admin = _admin(session, now)
    person = factories.user(session, now, email="kari@example.test")
    assert people_admin.grant_role(session, person, Role.ADMIN, actor_id=None, now=now)
    assert not people_admin.grant_role(session, person, Role.ADMIN, actor_id=None, now=now)
    assert people_admin.revoke_role(session, admin, Role.ADMIN, actor_id=None, now=now)
    assert (person.roles, admin.roles) == ({Role.ADMIN}, frozenset())
    with pytest.raises(people.LastActiveAdmin):
        people_admin.revoke_role(session, person, Role.ADMIN, actor_id=None, now=now)
    updates = select(AuditEvent.detail).where(AuditEvent.action == "person.update")
    changes = session.scalars(updates.order_by(AuditEvent.id)).all()
    assert [c["changes"]["roles"] for c in changes] == [[[], ["admin"]], [["admin"], []]]


def test_an_import_that_lets_the_last_admin_go_is_refused_at_their_line(
    session: Session, now: datetime
) -> None:
    admin = _admin(session, now)
    admin.external_id = "A1"
    session.flush()
    text = "external_id,email,full_name,active\nE1,kari@example.test,Kari,true\n"
    text += f"A1,admin@example.test,{admin.full_name},false\n"
    plan = importer.parse(text)
    preview = importer.preview(session, plan, now)
    assert [(p.line, p.column, p.kind) for p in preview.problems] == [
        (3, "active", ProblemKind.LAST_ADMIN)
    ]
    with pytest.raises(importer.ImportRejected):
        importer.apply(session, plan, now, actor_id=None)
    assert admin.active is True
    # With another admin coming back in the same file, the first may go.
    gone = _admin(session, now, "back@example.test")
    gone.external_id, gone.active = "A2", False
    session.flush()
    text += f"A2,back@example.test,{gone.full_name},true\n"
    importer.apply(session, importer.parse(text), now, actor_id=None)
    assert (admin.active, gone.active) == (False, True)


def test_only_an_admin_imports_changes_to_an_admin(session: Session, now: datetime) -> None:
    admin = _admin(session, now)
    admin.external_id = "A1"
    factories.user(session, now, email="other@example.test", roles=frozenset({Role.ADMIN}))
    session.flush()
    text = "external_id,email,full_name,department\nA1,admin@example.test,Ada Renamed,sales\n"
    by_hr = importer.preview(session, importer.parse(text), now, by_admin=False)
    assert [(p.line, p.kind, p.value) for p in by_hr.problems] == [
        (2, ProblemKind.ADMINS_ONLY, "admin@example.test")
    ]
    assert importer.preview(session, importer.parse(text), now, by_admin=True).ok
    unchanged = f"external_id,email,full_name\nA1,admin@example.test,{admin.full_name}\n"
    assert importer.preview(session, importer.parse(unchanged), now, by_admin=False).ok


def test_two_people_taking_admin_from_the_two_admins_at_once_leave_one(
    fresh_database_url: str, now: datetime
) -> None:
    """Each change counts the admins who remain; the second, waiting for the first one's
    lock, must count again after it commits. On PostgreSQL the count it had read before
    waiting still showed both admins, so each took one and Vern was left with none."""
    database = Database(fresh_database_url)
    try:
        with database.transaction() as setup:
            ids = [_admin(setup, now, f"{name}@example.test").id for name in "ab"]
        outcomes: list[str] = []
        holding, second_started = threading.Event(), threading.Event()

        def demote(user_id: int, first: bool) -> None:
            try:
                with database.transaction() as session:
                    user = session.get(User, user_id)
                    assert user is not None
                    people.set_roles(session, user, frozenset())
                    if first:  # keep the locks until the other one is waiting for them
                        holding.set()
                        second_started.wait(5)
                        time.sleep(0.3)
                outcomes.append("demoted")
            except people.LastActiveAdmin:
                outcomes.append("refused")

        def second() -> None:
            holding.wait(5)
            second_started.set()
            demote(ids[1], first=False)

        threads = [
            threading.Thread(target=demote, args=(ids[0], True)),
            threading.Thread(target=second),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(outcomes) == ["demoted", "refused"]
        with database.transaction() as check:
            assert len(people.active_admin_ids(check)) == 1
    finally:
        database.dispose()
