"""`make bench`: the scheduler's sweep over a large organisation and the mail send loop.

Each figure comes with a baseline measured in the same run on the same machine, because
absolute timings on shared machines are noise; the ratio is what to compare over time."""

from __future__ import annotations

import argparse
import json
import os
import platform
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from bench.organisation import bench_now, generate
from lms import create_app
from lms.config import PROJECT_ROOT, Settings
from lms.db import Database
from lms.mail import OutgoingMail
from lms.migrate import upgrade
from lms.reminders import jobs, outbox
from lms.training.models import Assignment
from tests.smtp import free_port


def step(name: str, url: str) -> dict[str, float | str]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.tick", name, url],
        check=True,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    result: dict[str, float | str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def queue_reminders(database: Database, count: int) -> None:
    with database.transaction() as session:
        ids = session.scalars(
            select(Assignment.id, Assignment.user_id)
            .where(Assignment.completed_at.is_(None))
            .order_by(Assignment.id)
            .limit(count)
        ).all()
        for assignment_id in ids:
            outbox.enqueue(
                session,
                key=f"reminder:{assignment_id}:bench",
                kind="reminder",
                payload={
                    "assignment_id": assignment_id,
                    "stage": "due",
                    "stage_kind": "reminder",
                    "offset": 0,
                    "to": [],
                    "cc": [],
                },
                now=bench_now(),
                domain="bench.example",
            )


@contextmanager
def smtp_sink_process() -> Iterator[int]:
    """bench/sink.py in its own process, so it does not share our GIL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sink", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def send_loop(url: str, port: int, count: int) -> tuple[float, float]:
    """Our send job (claim, render, send, settle) against raw smtplib over one connection."""
    database = Database(url)
    settings = Settings(
        database_url=url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_from="vern@bench.example",
        instance_path=Path(tempfile.mkdtemp()),
    )
    app = create_app(settings, database=database)
    # Reminders need recipients: point each payload at its own employee.
    with database.transaction() as session:
        from lms.reminders.models import OutboxMessage

        for message in session.scalars(select(OutboxMessage)):
            assignment = session.get(Assignment, message.payload["assignment_id"])
            assert assignment is not None
            message.payload = {**message.payload, "to": [assignment.user_id]}
    started = time.perf_counter()
    with app.app_context():
        detail = jobs.send(settings, database, app.extensions["lms.mailer"], budget_seconds=600)
    ours = count / (time.perf_counter() - started)
    assert f"sent {count}" in detail, detail

    mail = OutgoingMail(
        message_id="<x@bench.example>",
        sender="vern@bench.example",
        to=("p1@bench.example",),
        subject="baseline",
        text="x" * 600,
        html="<p>" + "x" * 1200 + "</p>",
    )
    payload = mail.to_mime()  # built once: the baseline is the transport alone
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for _ in range(count):
            client.sendmail(mail.sender, list(mail.to), payload)
    baseline = count / (time.perf_counter() - started)
    database.dispose()
    return ours, baseline


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--courses", type=int, default=15)
    parser.add_argument("--mails", type=int, default=5_000)
    parser.add_argument("--database-url", default=os.environ.get("LMS_BENCH_DATABASE_URL"))
    parser.add_argument("--write", type=Path, help="append the results table to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="vern-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    database = Database(url)
    print(f"generating {args.people} people x {args.courses} courses ...", flush=True)
    started = time.perf_counter()
    generate(database, args.people, args.courses, bench_now())
    generated = time.perf_counter() - started
    print(f"  {generated:.1f} s", flush=True)

    first = step("sweep", url)  # may have work: e.g. renewals whose day has come
    idle = step("sweep", url)
    baseline = step("baseline", url)
    print(f"sweep (first): {first['seconds']:.2f} s, {first['detail']}")
    print(f"sweep (nothing to do): {idle['seconds']:.2f} s, peak {idle['peak_mb']:.0f} MB")
    print(f"baseline count(*): {baseline['seconds']:.2f} s, peak {baseline['peak_mb']:.0f} MB")

    queue_reminders(database, args.mails)
    with smtp_sink_process() as port:
        ours, raw = send_loop(url, port, args.mails)
    print(f"send loop: {ours:.0f} mails/s; raw smtplib baseline {raw:.0f} mails/s")
    database.dispose()

    dialect = url.split(":", 1)[0]
    ratio_sweep = float(idle["seconds"]) / max(float(baseline["seconds"]), 1e-9)
    rows = [
        (
            "sweep tick, nothing to do",
            f"{idle['seconds']:.2f} s, peak {idle['peak_mb']:.0f} MB",
            "≤ 2 s, ≤ 300 MB",
            f"`count(*)` over assignments: {baseline['seconds']:.2f} s, "
            f"{baseline['peak_mb']:.0f} MB",
            f"{ratio_sweep:.0f}×",
        ),
        (
            "sweep tick, first after load",
            f"{first['seconds']:.2f} s, peak {first['peak_mb']:.0f} MB",
            "–",
            "–",
            "–",
        ),
        (
            f"send loop into a local SMTP sink ({args.mails:,} mails)",
            f"{ours:,.0f} mails/s",
            "≥ 1,000 mails/s",
            f"raw smtplib, one connection: {raw:,.0f} mails/s",
            f"{ours / raw:.2f}×",
        ),
    ]
    table = "\n".join(
        [
            f"\n### {time.strftime('%Y-%m-%d')} — {args.people:,} people × {args.courses} "
            f"courses, {dialect}\n",
            f"Machine: {machine()}. Organisation generated in {generated:.0f} s.\n",
            "| measurement | result | target | baseline (same run) | ratio |",
            "| --- | --- | --- | --- | --- |",
            *("| " + " | ".join(row) + " |" for row in rows),
            "",
        ]
    )
    print(table)
    if args.write:
        with args.write.open("a", encoding="utf-8") as handle:
            handle.write(table)


if __name__ == "__main__":
    main()
