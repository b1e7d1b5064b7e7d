"""`python -m bench.reports`: the dashboards' queries over a large organisation with history.

p95 of repeated runs for the HR overview, onboarding, an as-of day and a manager with about
500 people in their line; the organisation-wide completions CSV with its memory growth.
Baseline: a `count(*)` over the assignments in the same run."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.organisation import bench_now, generate
from bench.run import machine
from lms.db import Database
from lms.migrate import upgrade
from lms.people.models import User
from lms.reports import queries
from lms.reports.queries import Filters
from lms.reports.snapshots import record_day, refresh_current
from lms.training.models import Assignment


def p95(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm the caches, as a server would be
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 2 else samples[0]


def manager_with_about(session, size: int) -> tuple[User, int]:  # type: ignore[no-untyped-def]
    """The manager whose reporting line is closest to `size` people."""
    children: dict[int, list[int]] = {}
    for user_id, manager_id in session.execute(select(User.id, User.manager_id)):
        if manager_id:
            children.setdefault(manager_id, []).append(user_id)
    best, best_size = 0, 0
    for manager_id in children:
        stack, count = list(children[manager_id]), 0
        while stack and count <= 2 * size:
            node = stack.pop()
            count += 1
            stack.extend(children.get(node, []))
        if abs(count - size) < abs(best_size - size):
            best, best_size = manager_id, count
    user = session.get(User, best)
    assert user is not None
    return user, best_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--courses", type=int, default=15)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'reports.sqlite3'}"
    upgrade(url)
    database = Database(url)
    started = time.perf_counter()
    generate(database, args.people, args.courses, bench_now(), history=True)
    generated = time.perf_counter() - started
    today = bench_now().date()
    rows = []
    past = today - timedelta(days=30)
    with database.transaction() as session:
        baseline = p95(
            lambda: session.scalar(select(func.count()).select_from(Assignment)), args.runs
        )
        manager, line = manager_with_about(session, 500)
        live = {
            "HR overview, computed live (before the first sweep)": lambda: (
                queries.organisation_overview(session, today),
                queries.overdue_list(session, today),
            ),
            "as of a day with no recorded tallies, computed live": lambda: queries.as_of(
                session, past
            ),
        }
        for label, fn in live.items():
            seconds = p95(fn, max(3, args.runs // 4))
            rows.append((label, f"{seconds * 1000:.0f} ms", "–", f"{seconds / baseline:.0f}×"))
            print(f"{label}: p95 {seconds * 1000:.0f} ms", flush=True)
    # What the sweep keeps stored (and commits): today's tallies and each finished day's.
    started = time.perf_counter()
    with database.transaction() as writing:
        refresh_current(writing, bench_now())
        record_day(writing, past, bench_now())
    stored_seconds = time.perf_counter() - started
    with database.transaction() as session:
        manager = session.merge(manager)
        measured = {
            "HR overview (by department, by course, overdue list)": lambda: (
                queries.organisation_overview(session, today),
                queries.overdue_list(session, today),
            ),
            "onboarding, last 90 days": lambda: queries.onboarding(session, today, 90),
            "as of a day 30 days ago": lambda: queries.as_of(session, past),
            f"manager with {line} people in their line": lambda: queries.team_view(
                session, manager, today, Filters()
            ),
        }
        for label, fn in measured.items():
            seconds = p95(fn, args.runs)
            rows.append(
                (label, f"{seconds * 1000:.0f} ms", "≤ 150 ms", f"{seconds / baseline:.0f}×")
            )
            print(f"{label}: p95 {seconds * 1000:.0f} ms", flush=True)

        def export() -> int:
            chunks = queries.completions_csv(session, today - timedelta(days=3650), today)
            return sum(len(chunk) for chunk in chunks)

        started = time.perf_counter()
        size = export()
        export_seconds = time.perf_counter() - started
        tracemalloc.start()  # a second pass for memory: tracing slows Python down a lot
        export()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rows.append(
        ("storing the tallies (the tallies job, every 15 min)", f"{stored_seconds:.2f} s", "–", "–")
    )
    rows.append(
        (
            "completions CSV, whole organisation",
            f"{export_seconds:.1f} s, {size / 1e6:.0f} MB written, peak {peak / 1e6:.1f} MB held",
            "≤ 3 s, flat memory",
            "–",
        )
    )
    print(f"export: {export_seconds:.1f} s, peak {peak / 1e6:.1f} MB")
    table = "\n".join(
        [
            f"\n### {time.strftime('%Y-%m-%d')} — dashboards, {args.people:,} people × "
            f"{args.courses} courses with history, {url.split(':', 1)[0]}\n",
            f"Machine: {machine()}. Generated in {generated:.0f} s. Baseline `count(*)` over "
            f"assignments: p95 {baseline * 1000:.1f} ms.\n",
            "| query | p95 | target | ratio to baseline |",
            "| --- | --- | --- | --- |",
            *("| " + " | ".join(row) + " |" for row in rows),
            "",
        ]
    )
    print(table)
    if args.write:
        with args.write.open("a", encoding="utf-8") as handle:
            handle.write(table)
    database.dispose()


if __name__ == "__main__":
    main()
