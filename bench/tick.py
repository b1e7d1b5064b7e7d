"""One measured step in a fresh process, so peak memory is the step's own. Prints JSON."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.organisation import bench_now
from lms.config import Settings
from lms.db import Database
from lms.reminders import jobs
from lms.training.models import Assignment


def _peak_rss_mb() -> float:
    """This process's own high-water mark. (ru_maxrss would include the parent's memory:
    Linux keeps it across fork and exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(step: str, url: str) -> None:
    database = Database(url)
    settings = Settings(database_url=url, mail_from="vern@bench.example")
    started = time.perf_counter()
    if step == "sweep":
        detail = jobs.sweep(settings, database, bench_now())
    elif step == "baseline":  # the cheapest honest look at every assignment: count them
        with database.transaction() as session:
            detail = str(session.scalar(select(func.count()).select_from(Assignment)))
    else:
        raise SystemExit(f"unknown step {step}")
    seconds = time.perf_counter() - started
    peak_mb = _peak_rss_mb()
    database.dispose()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "detail": detail}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
