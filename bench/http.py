"""`python -m bench.http`: pages served by gunicorn (2 workers) against the limit of the same
server: Flask's hello world, measured in the same run with the same tools.

GET pages are measured with wrk (Debian's `wrk` package); the quiz submit, which needs a fresh
attempt before every request, with a Python client of 16 threads, whose own hello-world rate is
that row's baseline. Results: req/s, p50, p95, p99 and the ratio to hello world."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from httpx2 import Client, TransportError
from sqlalchemy import insert, select, update
from werkzeug.security import generate_password_hash

from bench.organisation import bench_now, generate
from bench.reports import manager_with_about
from bench.run import machine
from lms import clock
from lms.catalog.models import Course
from lms.config import PROJECT_ROOT
from lms.db import Database
from lms.migrate import upgrade
from lms.people.models import Role, User, UserRole
from lms.reports.snapshots import refresh_current
from lms.training.models import Assignment, ModuleView
from tests.conftest import CSRF_FIELD
from tests.smtp import free_port

DASHBOARDS = ("manager dashboard (about 500 in the line)", "HR overview (whole organisation)")
TARGETS = {
    "My training": "≥ 0.5× hello world",
    "a module page": "≥ 0.5× hello world",
    DASHBOARDS[0]: "p95 ≤ 150 ms",
    DASHBOARDS[1]: "p95 ≤ 150 ms",
}
PASSWORD = "bench-password-2026"  # noqa: S105 - synthetic users on a throw-away database
QUIZ_THREADS = 16
LUA = PROJECT_ROOT / "bench" / "wrk_report.lua"


@contextmanager
def serve(app: str, url: str, workdir: Path) -> Iterator[str]:
    port = free_port()
    environment = {
        **os.environ,
        "LMS_ENV": "production",
        "LMS_SECRET_KEY": "bench-" + "k" * 40,
        # The bench talks plain HTTP to 127.0.0.1: production cookies would never come back.
        "LMS_INSECURE_COOKIES": "1",
        "LMS_DATABASE_URL": url,
        "LMS_INSTANCE_PATH": str(workdir),
        "VERN_BIND": f"127.0.0.1:{port}",
        "VERN_WORKERS": "2",
        "VERN_MAX_REQUESTS": "0",
    }
    with (workdir / f"{app.replace(':', '-')}.log").open("wb") as log:
        server = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", app],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with Client(timeout=1) as probe:
                    probe.get(base + "/")
                break
            except TransportError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def wrk(url: str, cookie: str | None, seconds: int, connections: int = 16) -> dict[str, float]:
    headers = ["-H", f"Cookie: vern_session={cookie}"] if cookie else []
    output = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(LUA),
            *headers,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def prepare_people(database: Database, people: int) -> tuple[str, str, str, list[str]]:
    """Passwords for an employee, a manager of about 500, an HR person and the quiz takers
    (who have read every module of their courses, so the quiz opens)."""
    hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with database.transaction() as session:
        manager, _ = manager_with_about(session, 500)
        first_taker = people * 8 // 10
        takers = [f"p{n}@bench.example" for n in range(first_taker, first_taker + QUIZ_THREADS)]
        employee, hr_email = (
            f"p{people * 6 // 10}@bench.example",
            f"p{people * 6 // 10 + 1}@bench.example",
        )
        emails = [employee, manager.email, hr_email, *takers]
        session.execute(update(User).where(User.email.in_(emails)).values(password_hash=hashed))
        hr = session.scalars(select(User).where(User.email == hr_email)).one()
        session.add(UserRole(user_id=hr.id, role=str(Role.HR)))
        taker_ids = list(session.scalars(select(User.id).where(User.email.in_(takers))))
        rows = []
        for assignment in session.scalars(
            select(Assignment).where(Assignment.user_id.in_(taker_ids))
        ):
            session.execute(
                update(Assignment)
                .where(Assignment.id == assignment.id)
                .values(completed_at=None, renews_on=None)
            )
            for module in assignment.course_version.definition.modules:
                rows.append(
                    {
                        "assignment_id": assignment.id,
                        "module_slug": module.slug,
                        "viewed_at": bench_now(),
                    }
                )
        session.execute(insert(ModuleView), rows)
        return emails[0], manager.email, emails[2], takers


def course_keys(url: str) -> list[str]:
    database = Database(url)
    with database.transaction() as session:
        keys = list(session.scalars(select(Course.key).order_by(Course.key)))
    database.dispose()
    return keys


def log_in(base: str, email: str) -> tuple[Client, str]:
    client = Client(base_url=base, follow_redirects=True, timeout=30)
    page = client.get("/login").text
    match = CSRF_FIELD.search(page)
    assert match
    response = client.post(
        "/login",
        data={"csrf_token": match.group(1) or match.group(2), "email": email, "password": PASSWORD},
    )
    response.raise_for_status()
    return client, str(client.cookies["vern_session"])


def _token(client: Client, url: str) -> str:
    match = CSRF_FIELD.search(client.get(url).text)
    assert match, url
    return match.group(1) or match.group(2)


def quiz_submits(
    base: str, takers: list[str], course_keys: list[str], seconds: float
) -> dict[str, float]:
    """Each thread starts an attempt (not timed), then submits it (timed), until time is up."""
    samples: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(email: str) -> None:
        client, _ = log_in(base, email)
        courses = [
            line.split('"')[0]
            for line in client.get("/training").text.split('href="/training/')[1:]
        ]
        for key in dict.fromkeys(c for c in courses if c and "/" not in c):
            for _ in range(5):  # max_attempts of the shipped courses
                if time.monotonic() > deadline:
                    return
                started = client.post(
                    f"/training/{key}/quiz", data={"csrf_token": _token(client, f"/training/{key}")}
                )
                if "/attempts/" not in str(started.url):
                    break
                url = str(started.url)
                questions = started.text.count('class="question')
                answers = {f"q{i}": "0" for i in range(questions)}
                answers["csrf_token"] = _token(client, url)
                began = time.perf_counter()
                client.post(url, data=answers).raise_for_status()
                with lock:
                    samples.append(time.perf_counter() - began)

    wall = time.monotonic()
    threads = [threading.Thread(target=run, args=(email,)) for email in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - wall
    return _summary(samples, wall)


def python_client_baseline(base: str, seconds: float) -> dict[str, float]:
    """Hello world through the same Python client and threads as the quiz submits."""
    samples: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        with Client(base_url=base, timeout=30) as client:
            while time.monotonic() < deadline:
                began = time.perf_counter()
                client.get("/").raise_for_status()
                with lock:
                    samples.append(time.perf_counter() - began)

    wall = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(QUIZ_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _summary(samples, time.monotonic() - wall)


def _summary(samples: list[float], wall: float) -> dict[str, float]:
    if not samples:
        raise SystemExit("no request succeeded; see the server logs in the work folder")
    cuts = statistics.quantiles(samples, n=100) if len(samples) > 1 else samples * 99
    return {
        "rps": len(samples) / wall,
        "p50": cuts[49] * 1000,
        "p95": cuts[94] * 1000,
        "p99": cuts[98] * 1000,
        "requests": len(samples),
        "failed": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--courses", type=int, default=15)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database-url")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="vern-http-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    database = Database(url)
    started = time.perf_counter()
    generate(database, args.people, args.courses, bench_now(), history=True)
    generated = time.perf_counter() - started
    employee, manager, hr, takers = prepare_people(database, args.people)
    with database.transaction() as session:  # as the tallies job has in production
        refresh_current(session, clock.now())
    database.dispose()
    rows: list[tuple[str, dict[str, float], str, float]] = []
    with serve("bench.hello:app", url, workdir) as hello:
        limit = wrk(hello + "/", None, args.seconds)
        client_limit = python_client_baseline(hello, args.seconds)
    with serve("app:app", url, workdir) as vern:
        _, employee_cookie = log_in(vern, employee)
        _, manager_cookie = log_in(vern, manager)
        _, hr_cookie = log_in(vern, hr)
        course = "privacy-essentials"
        module = (
            Client(base_url=vern, cookies={"vern_session": employee_cookie})
            .get(f"/training/{course}")
            .text.split(f'href="/training/{course}/modules/')[1]
            .split('"')[0]
        )
        pages = [
            # Vern's own floor: the My data page queries nothing beyond the sign-in check, so
            # it costs the session, language, CSRF, security headers and the base template.
            (
                "My data, a page with no data of its own (Vern's floor)",
                "/my-data",
                employee_cookie,
                16,
            ),
            ("My training", "/training", employee_cookie, 16),
            ("a module page", f"/training/{course}/modules/{module}", employee_cookie, 16),
            (DASHBOARDS[0], "/team", manager_cookie, 16),
            (DASHBOARDS[1], "/hr", hr_cookie, 16),
            # One connection per worker: the page's own latency, without queueing behind
            # fifteen other requests on two CPUs.
            (DASHBOARDS[0], "/team", manager_cookie, 2),
            (DASHBOARDS[1], "/hr", hr_cookie, 2),
        ]
        for name, path, cookie, connections in pages:
            result = wrk(vern + path, cookie, args.seconds, connections)
            label = f"{name}, {connections} connections"
            rows.append((label, result, TARGETS.get(name, "–"), result["rps"] / limit["rps"]))
        quiz = quiz_submits(vern, takers, course_keys(url), args.seconds)
        rows.append(
            (
                "quiz submit (16 client threads)",
                quiz,
                "≥ 0.25× hello world",
                quiz["rps"] / client_limit["rps"],
            )
        )
    dialect = url.split(":", 1)[0].split("+")[0]
    lines = [
        f"### {time.strftime('%Y-%m-%d')} — HTTP, gunicorn 2 workers × 4 threads, "
        f"{args.people:,} people × {args.courses} courses, {dialect}",
        "",
        f"Machine: {machine()}. Organisation generated in {generated:.0f} s. wrk: 2 threads, "
        f"16 connections unless said, {args.seconds} s a page.",
        "",
        "| page | req/s | p50 | p95 | p99 | failed | target | ratio to hello world |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        _row("Flask hello world (the limit, wrk)", limit, "–", 1.0),
        _row("Flask hello world (the limit, Python client)", client_limit, "–", 1.0),
        *(_row(name, result, target, ratio) for name, result, target, ratio in rows),
        "",
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        with args.write.open("a", encoding="utf-8") as out:
            out.write("\n" + table)


def _row(name: str, result: dict[str, float], target: str, ratio: float) -> str:
    return (
        f"| {name} | {result['rps']:,.0f} | {result['p50']:.1f} ms | {result['p95']:.1f} ms | "
        f"{result['p99']:.1f} ms | {int(result['failed'])} | {target} | {ratio:.2f}× |"
    )


if __name__ == "__main__":
    main()
