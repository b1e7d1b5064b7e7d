"""People from a CSV file: every problem at its line, all-or-nothing, idempotent re-import."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.admin import people_import as importer
from lms.admin.people_import import Action, Change, ProblemKind
from lms.audit.models import AuditEvent
from lms.people import service as people
from lms.people.models import Department, User
from lms.training.models import Assignment
from tests import factories

HEADER = "external_id,email,full_name,department,manager_external_id,start_date,locale,active"


def csv(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def problems(text: str) -> set[tuple[int, str, ProblemKind]]:
    return {(p.line, p.column, p.kind) for p in importer.parse(text).problems}


def person(session: Session, external_id: str) -> User:
    found = session.scalar(select(User).where(User.external_id == external_id))
    assert found is not None, external_id
    return found


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def run(session: Session, now: datetime, text: str) -> importer.ImportResult:
    return importer.apply(session, importer.parse(text), now, actor_id=None)


def test_parse_reads_a_clean_file_with_bom_crlf_and_any_case_header() -> None:
    text = "\ufeffExternal_ID, Email ,full_name,Locale,active\r\n"
    text += "E1, Kari@Example.TEST ,  Kari   Nordmann ,NB,yes\r\n"
    plan = importer.parse(text)
    assert plan.problems == ()
    assert plan.columns == {"external_id", "email", "full_name", "locale", "active"}
    (row,) = plan.rows
    assert row == importer.ImportRow(
        line=2,
        external_id="E1",
        email="kari@example.test",
        full_name="Kari Nordmann",
        locale="nb",
        active=True,
    )


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["E1,,Kari"], {(2, "email", ProblemKind.MISSING)}),
        ([",a@example.test,Kari"], {(2, "external_id", ProblemKind.MISSING)}),
        (["E1,a@example.test,  "], {(2, "full_name", ProblemKind.MISSING)}),
        (["E1,not-an-email,Kari"], {(2, "email", ProblemKind.BAD_EMAIL)}),
        (["E1,a@example.test,Kari,,,2026-02-30"], {(2, "start_date", ProblemKind.BAD_DATE)}),
        (["E1,a@example.test,Kari,,,02.03.2026"], {(2, "start_date", ProblemKind.BAD_DATE)}),
        (["E1,a@example.test,Kari,,,,de"], {(2, "locale", ProblemKind.BAD_LOCALE)}),
        (["E1,a@example.test,Kari,,,,,maybe"], {(2, "active", ProblemKind.BAD_ACTIVE)}),
        (["E1,a@example.test,Kari,Sales Team"], {(2, "department", ProblemKind.BAD_DEPARTMENT)}),
        (["E1,a@example.test,Kari,all"], {(2, "department", ProblemKind.BAD_DEPARTMENT)}),
        (["E1,a@example.test,Kari,,,,,,extra"], {(2, "", ProblemKind.TOO_MANY_VALUES)}),
        ([f"E1,a@example.test,{'x' * 201}"], {(2, "full_name", ProblemKind.TOO_LONG)}),
        (
            ["E1,a@example.test,Kari", "E2,b@example.test,Ola", "E1,c@example.test,Per"],
            {(4, "external_id", ProblemKind.DUPLICATE)},
        ),
        (
            ["E1,a@example.test,Kari", "E2,A@Example.test,Ola"],
            {(3, "email", ProblemKind.DUPLICATE)},
        ),
        (
            ["A,a@example.test,Ann,,B", "B,b@example.test,Bo,,A", "C,c@example.test,Cy,,C"],
            {
                (2, "manager_external_id", ProblemKind.MANAGER_CYCLE),
                (3, "manager_external_id", ProblemKind.MANAGER_CYCLE),
                (4, "manager_external_id", ProblemKind.MANAGER_CYCLE),
            },
        ),
    ],
)
def test_each_problem_is_reported_at_its_line_and_column(
    lines: list[str], expected: set[tuple[int, str, ProblemKind]]
) -> None:
    assert problems(csv(*lines)) == expected


def test_header_problems_are_reported_once_on_the_header_line() -> None:
    text = "external_id,full_name,nickname,full_name\nE1,Kari,K,Kari\nE2,Ola,O,Ola\n"
    assert problems(text) == {
        (1, "email", ProblemKind.MISSING_COLUMN),
        (1, "nickname", ProblemKind.UNKNOWN_COLUMN),
        (1, "full_name", ProblemKind.DUPLICATE_COLUMN),
    }


def test_line_numbers_count_blank_lines_and_quoted_line_breaks() -> None:
    text = csv(
        "",
        'E1,a@example.test,"Kari',
        'Nordmann"',
        "E2,bad,Ola",
    )
    assert problems(text) == {
        (3, "full_name", ProblemKind.CONTROL_CHARACTER),
        (5, "email", ProblemKind.BAD_EMAIL),
    }


def test_problem_reason_names_the_value_and_what_it_clashes_with() -> None:
    plan = importer.parse(csv("E1,a@example.test,Kari", "E1,b@example.test,Ola"))
    (problem,) = plan.problems
    assert problem.reason == '"E1" is already on line 2'


def test_an_empty_file_and_broken_csv_are_problems() -> None:
    assert problems("") == {(1, "", ProblemKind.EMPTY_FILE)}
    assert problems(csv('E1,a@example.test,"Kari"x')) == {(2, "", ProblemKind.BAD_CSV)}


def test_a_file_that_is_not_utf8_is_refused_with_its_line() -> None:
    data = csv("E1,a@example.test,Kari", "E2,b@example.test,Bjørn").encode("latin-1")
    with pytest.raises(importer.NotUtf8) as refused:
        importer.decode(data)
    assert refused.value.problem.line == 3
    assert importer.decode(b"\xef\xbb\xbf" + "a,ø".encode()) == "a,ø"


def test_import_creates_people_departments_and_managers_in_any_order(
    session: Session, now: datetime
) -> None:
    text = csv(
        "E2,ola@example.test,Ola Nordmann,customer-success,E1,2026-03-16,nb,",
        "E1,kari@example.test,Kari Nordmann,management,,,,",
    )
    preview = importer.preview(session, importer.parse(text), now)
    assert preview.ok
    assert [row.action for row in preview.rows] == [Action.CREATE, Action.CREATE]
    assert preview.new_departments == ("customer-success", "management")

    result = importer.apply(
        session, importer.parse(text), now, actor_id=None, default_timezone="UTC"
    )

    assert result.counts[Action.CREATE] == 2
    ola, kari = person(session, "E2"), person(session, "E1")
    assert ola.manager is kari
    assert kari.manager is None
    assert ola.department is not None
    assert ola.department.name == "Customer-Success"
    assert (ola.email, ola.locale, ola.start_date, ola.timezone) == (
        "ola@example.test",
        "nb",
        date(2026, 3, 16),
        "UTC",
    )
    assert kari.locale == "en"
    assert ola.active
    assert kari.active


def test_reimporting_the_same_file_changes_nothing(session: Session, now: datetime) -> None:
    text = csv(
        "E1,kari@example.test,Kari Nordmann,sales,,2026-01-05,nb,true",
        "E2,ola@example.test,Ola Nordmann,sales,E1,,,",
        "E3,per@example.test,Per Gone,,E1,,,false",
    )
    run(session, now, text)
    people_before = count(session, User)

    again = importer.preview(session, importer.parse(text), now)
    assert {row.action for row in again.rows} == {Action.UNCHANGED}
    result = run(session, now + timedelta(days=1), text)

    assert result.counts[Action.UNCHANGED] == 3
    assert count(session, User) == people_before
    assert count(session, Department) == 1
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "people.import"))
    assert [(e.detail["create"], e.detail["unchanged"]) for e in events] == [(3, 0), (0, 3)]


def test_update_lists_each_changed_field_before_and_after(session: Session, now: datetime) -> None:
    run(session, now, csv("M1,boss@example.test,Big Boss,,,,,", "E1,k@example.test,Kari,sales,,,,"))
    text = csv(
        "M1,boss@example.test,Big Boss,,,,,",
        "E1,kari@example.test,Kari Nordmann,support,M1,2026-04-01,nb,",
    )
    preview = importer.preview(session, importer.parse(text), now)
    rows = {row.external_id: row for row in preview.rows}
    assert rows["M1"].action is Action.UNCHANGED
    assert rows["E1"].action is Action.UPDATE
    assert rows["E1"].changes == (
        Change("email", "k@example.test", "kari@example.test"),
        Change("full_name", "Kari", "Kari Nordmann"),
        Change("department", "sales", "support"),
        Change("start_date", "", "2026-04-01"),
        Change("locale", "en", "nb"),
        Change("manager_external_id", "", "M1"),
    )
    run(session, now, text)
    kari = person(session, "E1")
    assert (kari.email, kari.department and kari.department.key, kari.manager) == (
        "kari@example.test",
        "support",
        person(session, "M1"),
    )


def test_columns_left_out_and_empty_locale_leave_details_unchanged(
    session: Session, now: datetime
) -> None:
    run(session, now, csv("M1,boss@example.test,Boss,,,,,", "E1,k@example.test,Kari,sales,M1,,nb,"))
    text = csv("E1,k@example.test,Kari,", header="external_id,email,full_name,locale")
    preview = importer.preview(session, importer.parse(text), now)
    assert [row.action for row in preview.rows] == [Action.UNCHANGED]
    run(session, now, text)
    kari = person(session, "E1")
    assert kari.department is not None
    assert (kari.department.key, kari.manager, kari.locale) == (
        "sales",
        person(session, "M1"),
        "nb",
    )


def test_empty_department_manager_and_start_date_clear_them(
    session: Session, now: datetime
) -> None:
    run(
        session,
        now,
        csv("M1,boss@example.test,Boss,,,,,", "E1,k@example.test,Kari,sales,M1,2026-01-01"),
    )
    run(session, now, csv("M1,boss@example.test,Boss,,,,,", "E1,k@example.test,Kari,,,"))
    kari = person(session, "E1")
    assert (kari.department, kari.manager, kari.start_date) == (None, None, None)


def test_a_manager_already_in_vern_can_be_named_and_an_unknown_one_cannot(
    session: Session, now: datetime
) -> None:
    run(session, now, csv("M1,boss@example.test,Boss,,,,,"))
    ok = importer.preview(session, importer.parse(csv("E1,k@example.test,Kari,,M1")), now)
    assert ok.ok
    bad = importer.preview(session, importer.parse(csv("E1,k@example.test,Kari,,M9")), now)
    assert [(p.line, p.column, p.kind, p.value) for p in bad.problems] == [
        (2, "manager_external_id", ProblemKind.UNKNOWN_MANAGER, "M9")
    ]


def test_a_manager_on_a_row_with_its_own_problem_is_not_called_unknown(
    session: Session, now: datetime
) -> None:
    text = csv("M1,bad-email,Boss", "E1,k@example.test,Kari,,M1")
    preview = importer.preview(session, importer.parse(text), now)
    assert [(p.line, p.kind) for p in preview.problems] == [(2, ProblemKind.BAD_EMAIL)]


def test_a_loop_through_someone_only_in_vern_is_refused(session: Session, now: datetime) -> None:
    # In Vern: A manages B. The file makes A report to B: A → B → A.
    run(session, now, csv("A,a@example.test,Ann,,,,,", "B,b@example.test,Bo,,A,,,"))
    text = csv(
        "A,a@example.test,Ann,,B",
        header="external_id,email,full_name,department,manager_external_id",
    )
    preview = importer.preview(session, importer.parse(text), now)
    assert [(p.line, p.kind, p.value) for p in preview.problems] == [
        (2, ProblemKind.MANAGER_CYCLE, "A → B → A")
    ]
    with pytest.raises(importer.ImportRejected):
        run(session, now, text)
    assert person(session, "A").manager is None


def test_swapping_a_manager_and_their_report_is_not_a_loop(session: Session, now: datetime) -> None:
    run(session, now, csv("A,a@example.test,Ann,,,,,", "B,b@example.test,Bo,,A,,,"))
    run(session, now, csv("A,a@example.test,Ann,,B,,,", "B,b@example.test,Bo,,,,,"))
    assert person(session, "A").manager is person(session, "B")
    assert person(session, "B").manager is None


def test_an_email_of_someone_else_in_vern_is_a_problem(session: Session, now: datetime) -> None:
    run(session, now, csv("E1,kari@example.test,Kari,,,,,"))
    preview = importer.preview(session, importer.parse(csv("E2,Kari@example.test,Kari Two")), now)
    assert [(p.line, p.column, p.kind, p.other) for p in preview.problems] == [
        (2, "email", ProblemKind.EMAIL_TAKEN, "external_id E1")
    ]


def test_someone_added_by_hand_is_taken_over_by_email(session: Session, now: datetime) -> None:
    by_hand = factories.user(session, now, email="kari@example.test", name="Kari")
    preview = importer.preview(session, importer.parse(csv("E1,kari@example.test,Kari")), now)
    assert [(row.action, row.changes) for row in preview.rows] == [
        (Action.UPDATE, (Change("external_id", "", "E1"),))
    ]
    run(session, now, csv("E1,kari@example.test,Kari"))
    assert person(session, "E1") is by_hand


def test_nothing_is_written_when_any_row_has_a_problem(session: Session, now: datetime) -> None:
    run(session, now, csv("E1,kari@example.test,Kari,sales,,,,"))
    people_before, departments_before = count(session, User), count(session, Department)
    text = csv(
        "E1,kari.new@example.test,Kari Renamed,sales,,,,false",
        "E2,ola@example.test,Ola,support,,,,",
        "E3,per@example.test,Per,,,31.12.2025,,",
    )
    with pytest.raises(importer.ImportRejected) as rejected:
        run(session, now, text)
    assert [(p.line, p.column) for p in rejected.value.problems] == [(4, "start_date")]
    assert str(rejected.value) == "1 problem; nothing was imported"
    session.expire_all()
    kari = person(session, "E1")
    assert (kari.email, kari.full_name, kari.active) == ("kari@example.test", "Kari", True)
    assert count(session, User) == people_before
    assert count(session, Department) == departments_before
    assert count(session, AuditEvent) == 1  # the first import's only


def test_active_false_deactivates_and_ends_logins_and_true_reactivates(
    session: Session, now: datetime
) -> None:
    run(session, now, csv("E1,kari@example.test,Kari,,,,,"))
    kari = person(session, "E1")
    login = people.start_login(
        session, kari, now=now, lifetime=timedelta(hours=8), ip=None, user_agent=None
    )
    text = csv("E1,kari@example.test,Kari,,,,,no")
    preview = importer.preview(session, importer.parse(text), now)
    assert [row.action for row in preview.rows] == [Action.DEACTIVATE]

    run(session, now, text)
    assert not kari.active
    assert kari.deactivated_at == now
    assert people.user_for_login(session, login.token, now) is None

    back = importer.preview(session, importer.parse(csv("E1,kari@example.test,Kari,,,,,1")), now)
    assert [row.action for row in back.rows] == [Action.REACTIVATE]
    run(session, now, csv("E1,kari@example.test,Kari,,,,,1"))
    assert kari.active


def test_someone_new_and_inactive_is_created_as_a_leaver(session: Session, now: datetime) -> None:
    run(session, now, csv("E1,kari@example.test,Kari,,,,,false"))
    kari = person(session, "E1")
    assert not kari.active
    assert kari.deactivated_at == now


def test_new_people_get_their_courses_at_once(
    session: Session, now: datetime, courses_root: Path
) -> None:
    factories.synced_course(session, courses_root, now, "basics")
    factories.synced_course(session, courses_root, now, "selling", audience=["sales"])
    result = run(
        session, now, csv("E1,kari@example.test,Kari,sales,,,,", "E2,ola@example.test,Ola")
    )
    assert result.assignments == 3
    kari = person(session, "E1")
    assert session.scalar(select(func.count()).where(Assignment.user_id == kari.id)) == 2
