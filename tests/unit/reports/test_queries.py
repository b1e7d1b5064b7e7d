"""Dashboard read models: scope, status, filters, history, point in time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.evidence.models import LedgerEntry, LedgerSubject
from lms.people.service import deactivate
from lms.reports import queries
from lms.reports.queries import Filters, Line, Status
from lms.training.models import Assignment
from tests.company import Company, complete
from tests.unit.reports.test_spreadsheet import assert_every_field_quoted


def _names(view: queries.TeamView) -> list[str]:
    return [row.name for row in view.rows]


def test_a_manager_sees_the_whole_reporting_line_and_nobody_else(
    session: Session, company: Company, now: datetime
) -> None:
    view = queries.team_view(session, company.lead_a, now.date(), Filters())
    assert sorted(_names(view)) == ["Ada One", "Ari Two"]
    assert {r.name: r.direct for r in view.rows} == {"Ada One": True, "Ari Two": False}
    boss_view = queries.team_view(session, company.boss, now.date(), Filters())
    assert len(boss_view.rows) == 5  # two leads, their three reports


def test_filters_by_line_status_and_course(
    session: Session, company: Company, now: datetime
) -> None:
    today = now.date()
    direct = queries.team_view(session, company.lead_a, today, Filters(line=Line.DIRECT))
    assert _names(direct) == ["Ada One"]
    indirect = queries.team_view(session, company.lead_a, today, Filters(line=Line.INDIRECT))
    assert _names(indirect) == ["Ari Two"]
    overdue = queries.team_view(session, company.lead_a, today, Filters(status=Status.OVERDUE))
    assert sorted(_names(overdue)) == ["Ada One", "Ari Two"]  # Ada still owes crm
    only_basics = queries.team_view(
        session, company.lead_a, today, Filters(course="basics", status=Status.OVERDUE)
    )
    assert _names(only_basics) == ["Ari Two"]
    assert only_basics.course_keys == ["basics"]
    assert set(only_basics.rows[0].cells) == {"basics"}


def test_cards_count_what_the_filters_show(
    session: Session, company: Company, now: datetime
) -> None:
    view = queries.team_view(session, company.lead_a, now.date(), Filters())
    assert view.counts[Status.COMPLETE] == 1
    assert view.counts[Status.OVERDUE] == 3


def test_completion_history_is_computed_from_stored_dates(
    session: Session, company: Company, now: datetime
) -> None:
    view = queries.team_view(session, company.lead_b, now.date(), Filters(), weeks=12)
    required = {end: (req, done) for end, req, done in view.history}
    before_start = company.start.date() - timedelta(days=1)
    after_b1 = (company.start + timedelta(days=41)).date()
    points_before = [v for end, v in required.items() if end <= before_start]
    assert all(v == (0, 0) for v in points_before)
    assert [v for end, v in required.items() if end >= after_b1] == [(1, 1)] * len(
        [e for e in required if e >= after_b1]
    )


def test_completion_history_drops_a_cycle_from_the_week_it_was_superseded_or_ended(
    session: Session, company: Company, now: datetime
) -> None:
    """A replaced cycle counts until it was replaced, an ended one until it ended."""
    (cycle,) = session.scalars(select(Assignment).where(Assignment.user_id == company.b1.id))
    cycle.superseded_at = company.start + timedelta(days=50, hours=12)
    session.flush()
    history = queries.team_view(session, company.lead_b, now.date(), Filters()).history
    replaced = (company.start + timedelta(days=50)).date()
    before = [(req, done) for end, req, done in history if 0 < (replaced - end).days < 10]
    after = [(req, done) for end, req, done in history if end > replaced]
    assert before == [(1, 1)]
    assert after
    assert set(after) == {(0, 0)}

    cycle.superseded_at, cycle.ended_at = None, company.start + timedelta(days=50, hours=12)
    session.flush()
    history = queries.team_view(session, company.lead_b, now.date(), Filters()).history
    assert {(req, done) for end, req, done in history if end > replaced} == {(0, 0)}
    assert [(req, done) for end, req, done in history if 0 < (replaced - end).days < 10] == [(1, 1)]


def test_status_rules() -> None:
    today = datetime(2026, 3, 2).date()
    assert queries.status_of(datetime(2026, 3, 1), today, today) is Status.COMPLETE
    assert queries.status_of(None, today - timedelta(days=1), today) is Status.OVERDUE
    assert queries.status_of(None, today, today) is Status.DUE_SOON
    assert queries.status_of(None, today + timedelta(days=14), today) is Status.DUE_SOON
    assert queries.status_of(None, today + timedelta(days=15), today) is Status.OPEN


def test_person_record_is_scoped_to_the_viewer(
    session: Session, company: Company, now: datetime
) -> None:
    today = now.date()
    assert (
        queries.person_record(session, company.lead_a, company.a2.id, today, organisation=False)
        is not None
    )
    assert (
        queries.person_record(session, company.lead_a, company.b1.id, today, organisation=False)
        is None
    )
    assert (
        queries.person_record(session, company.hr, company.b1.id, today, organisation=False) is None
    )  # HR is not b1's manager
    record = queries.person_record(session, company.hr, company.a1.id, today, organisation=True)
    assert record is not None
    basics = next(c for c in record.cycles if c.course_key == "basics")
    assert basics.attestation is not None
    assert basics.attestation.version_sha256 == company.course.sha256
    assert basics.attempts[0].score_percent == 100


def test_organisation_overview_excludes_leavers_by_default(
    session: Session, company: Company, now: datetime
) -> None:
    today = now.date()
    overview = queries.organisation_overview(session, today)
    total, by_department, by_course = overview.total, overview.by_department, overview.by_course
    deactivate(session, company.a2, now)
    after = queries.organisation_overview(session, today).total
    with_leavers = queries.organisation_overview(session, today, include_leavers=True).total
    assert after.total == total.total - 2  # a2 had basics and crm
    assert with_leavers.total == total.total
    sales = next(t for t in by_department if t.label == "Sales")
    assert (sales.total, sales.complete) == (6, 1)
    assert {t.label for t in by_course} == {"basics", "crm"}
    assert not any(line.name == "Ari Two" for line in queries.overdue_list(session, today))
    assert any(
        line.name == "Ari Two"
        for line in queries.overdue_list(session, today, include_leavers=True)
    )


def test_as_of_uses_history_not_todays_state(
    session: Session, company: Company, now: datetime
) -> None:
    day_20 = (company.start + timedelta(days=20)).date()
    before = queries.as_of(session, day_20)
    complete(session, company.a2, company.course, now)  # today: does not change the past
    deactivate(session, company.lead_b, now)
    again = queries.as_of(session, day_20)
    assert again.total == before.total
    assert before.total.complete == 1  # only a1 by day 20
    assert before.total.overdue == 0  # nothing was due yet
    day_45 = (company.start + timedelta(days=45)).date()
    later = queries.as_of(session, day_45)
    assert later.total.complete == 2  # a1 and b1
    assert later.total.overdue == later.total.total - 2
    assert {line.name for line in later.overdue} >= {"Ari Two", "Ben Lead"}


def test_onboarding_shows_new_hires_and_days_to_completion(
    session: Session, company: Company, now: datetime
) -> None:
    from lms.people.models import User

    for user in session.query(User).all():
        user.start_date = company.start.date()
    session.flush()
    hires = queries.onboarding(session, now.date(), 90)
    ada = next(h for h in hires if h.name == "Ada One")
    assert ada.courses["basics"] == (Status.COMPLETE, 10)
    assert ada.courses["crm"][0] is Status.OVERDUE
    assert queries.onboarding(session, now.date(), 30) == []


def test_completions_csv_streams_attestations_in_the_range(
    session: Session, company: Company, now: datetime
) -> None:
    chunks = list(queries.completions_csv(session, company.start.date(), now.date()))
    text = "".join(chunks)
    lines = text.strip().splitlines()
    assert lines[0].startswith('"email","name","department","course"')
    assert len(lines) == 3  # a1 and b1 signed basics
    assert "ada.one@example.test" in text
    signed = (company.start + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    import csv as csv_module

    rows = list(csv_module.reader(lines))
    ada = next(r for r in rows if r[0] == "ada.one@example.test")
    entry = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.kind == "attestation",
            LedgerEntry.record.like("attestation:%"),
            LedgerEntry.person_ref == session.get_one(LedgerSubject, company.a1.id).ref,
        )
    ).one()
    assert ada[-2:] == [str(entry.seq), entry.hash]
    assert ada[:-2] == [
        "ada.one@example.test",
        "Ada One",
        "Sales",
        "basics",
        "1",
        company.course.sha256,
        "100",
        "en",
        company.course.statement_sha256("en"),
        "Ada One",
        signed,
    ]
    narrow = "".join(
        queries.completions_csv(
            session, company.start.date(), (company.start + timedelta(days=20)).date()
        )
    )
    assert "bea.bee@example.test" not in narrow


def test_overview_reads_the_tallies_the_sweep_stored_today(
    session: Session, company: Company, now: datetime
) -> None:
    from lms.reports.snapshots import refresh_current

    live = queries.organisation_overview(session, now.date())
    assert live.taken_at is None
    refresh_current(session, now)
    stored = queries.organisation_overview(session, now.date())
    assert stored.taken_at == now
    assert stored.total == live.total
    assert stored.by_department == live.by_department
    assert stored.by_course == live.by_course
    tomorrow = queries.organisation_overview(session, now.date() + timedelta(days=1))
    assert tomorrow.taken_at is None  # yesterday's tallies are never shown as today's


def test_a_finished_day_is_recorded_once_and_read_back_by_as_of(
    session: Session, company: Company, now: datetime
) -> None:
    import pytest

    from lms.reports.snapshots import record_day

    day_45 = (company.start + timedelta(days=45)).date()
    live = queries.as_of(session, day_45)
    assert not live.recorded
    assert record_day(session, day_45, now)
    assert not record_day(session, day_45, now)
    recorded = queries.as_of(session, day_45)
    assert recorded.recorded
    assert recorded.total == live.total
    assert recorded.by_department == live.by_department
    with pytest.raises(ValueError, match="not over yet"):
        record_day(session, now.date(), now)


def test_exports_neutralise_cells_a_spreadsheet_would_run_as_formulas(
    session: Session, company: Company, now: datetime
) -> None:
    """OWASP CSV injection: a typed name like =HYPERLINK(...) must not become a formula."""
    import csv as csv_module
    import io as io_module

    from lms.training import service
    from tests.unit.training.conftest import Learner

    company.a2.full_name = '=HYPERLINK("http://evil.example","x")'
    session.flush()
    learner = Learner(session, company.a2, company.course, now)
    learner.pass_quiz()
    learner.sign()
    assert service  # imported for the learner's use
    text = "".join(queries.completions_csv(session, company.start.date(), now.date()))
    rows = list(csv_module.reader(io_module.StringIO(text)))
    evil = next(r for r in rows if r[0] == company.a2.email)
    assert evil[1] == "'" + company.a2.full_name
    assert evil[9] == "'" + company.a2.full_name
    assert_every_field_quoted(text)


def test_completions_csv_keeps_a_semicolon_and_a_tab_start_inside_their_cells(
    session: Session, company: Company, now: datetime
) -> None:
    """Excel with `;` as list separator (Norway) must not split a name; a leading tab is a
    formula start too."""
    import csv as csv_module
    import io as io_module

    from tests.unit.training.conftest import Learner

    company.a2.full_name = "\tKari; Nordmann"
    session.flush()
    learner = Learner(session, company.a2, company.course, now)
    learner.pass_quiz()
    learner.sign()
    text = "".join(queries.completions_csv(session, company.start.date(), now.date()))
    assert_every_field_quoted(text)
    rows = list(csv_module.reader(io_module.StringIO(text, newline="")))
    kari = next(r for r in rows if r[0] == company.a2.email)
    assert kari[1] == "'\tKari; Nordmann"
