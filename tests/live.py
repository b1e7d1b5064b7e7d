"""Vern served by gunicorn on a free loopback port, as in production, for tests that need a
real server (browser journeys, the SCIM compliance checker)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lms.config import PROJECT_ROOT
from tests.smtp import free_port


def _environment(
    database_url: str, instance: Path, courses: Path, extra_env: dict[str, str]
) -> dict[str, str]:
    return {
        **os.environ,
        "LMS_ENV": "testing",
        "LMS_SECRET_KEY": "live-" + "s" * 40,
        "LMS_DATABASE_URL": database_url,
        "LMS_INSTANCE_PATH": str(instance),
        "LMS_COURSES_PATH": str(courses),
        # The test's own servers (OpenID provider, SMTP) listen on loopback, which the outbound
        # policy refuses unless the operator allows it.
        "LMS_OUTBOUND_ALLOW": "127.0.0.1",
        **extra_env,
    }


@contextmanager
def gunicorn(
    database_url: str, instance: Path, courses: Path, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Serve Vern on `database_url`; yields the base URL, stops the server afterwards."""
    port = free_port()
    instance.mkdir(parents=True, exist_ok=True)
    # A file, not a pipe: a pipe nobody reads fills up and blocks the server's logging.
    log_path = instance / "gunicorn.log"
    environment = _environment(database_url, instance, courses, extra_env or {})
    with log_path.open("wb") as log:  # the server keeps its own copy of the descriptor
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                "2",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{port}",
                "app:app",
            ],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    failed = False
    try:
        _wait_until_serving(server, url, log_path)
        yield url
    except BaseException:
        failed = True
        raise
    finally:
        server.terminate()
        server.wait(timeout=30)
        if failed:  # the temporary directory goes in a later run: the test output keeps it
            show_log("gunicorn", log_path)


def show_log(name: str, path: Path, limit: int = 200_000) -> None:
    """Print a server's log (its last `limit` characters) where pytest shows a failed test's
    output, so a failure under load can be explained after the run."""
    text = path.read_text(errors="replace") if path.exists() else "(no log written)"
    cut = f"[... {len(text) - limit} characters before ...]\n" if len(text) > limit else ""
    print(f"----- {name} log {path} -----\n{cut}{text[-limit:]}", file=sys.stderr)  # noqa: T201


def _wait_until_serving(server: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            errors = log_path.read_text(errors="replace")
            pytest.fail(f"gunicorn exited with {server.returncode}: {errors[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/login", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail("gunicorn did not start serving within 30 s")


def lms_command(
    database_url: str,
    instance: Path,
    courses: Path,
    *args: str,
    extra_env: dict[str, str] | None = None,
) -> str:
    """Run `flask --app app lms ARGS` as an operator would; its output, or the test fails."""
    instance.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", "app", "lms", *args],
        cwd=PROJECT_ROOT,
        env=_environment(database_url, instance, courses, extra_env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"lms {' '.join(args)} exited with {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def scheduler(
    database_url: str, instance: Path, courses: Path, extra_env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """`flask --app app lms scheduler` in its own process; stopped (SIGTERM) afterwards if it
    is still running. The test may kill it first."""
    instance.mkdir(parents=True, exist_ok=True)
    environment = _environment(database_url, instance, courses, extra_env)
    with (instance / "scheduler.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "flask", "--app", "app", "lms", "scheduler"],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    failed = False
    try:
        yield process
    except BaseException:
        failed = True
        raise
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)
        if failed:
            show_log("scheduler", instance / "scheduler.log")
