"""The example deployment files work: gunicorn accepts its config with the app, and every
command the Procfile and the systemd units run exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from flask import Flask

from lms.config import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"


def test_gunicorn_accepts_the_example_config(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "LMS_ENV": "production",
        "LMS_SECRET_KEY": "deploy-test-" + "k" * 40,
        "LMS_DATABASE_URL": f"sqlite:///{tmp_path / 'vern.sqlite3'}",
        "LMS_INSTANCE_PATH": str(tmp_path),
    }
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--check-config",
            "-c",
            str(DEPLOY / "gunicorn.conf.py"),
            "app:app",
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _lms_commands() -> set[tuple[str, ...]]:
    texts = [(PROJECT_ROOT / "Procfile").read_text()] + [
        unit.read_text() for unit in (DEPLOY / "systemd").glob("*.service")
    ]
    found = set()
    for text in texts:
        for match in re.finditer(r"flask --app app lms ([a-z -]+?)(?:\s*&&|\s*$)", text, re.M):
            found.add(tuple(match.group(1).split()))
    return found


def test_every_command_the_deployment_runs_exists(app: Flask) -> None:
    commands = _lms_commands()
    assert ("db", "upgrade") in commands
    assert ("scheduler",) in commands
    runner = app.test_cli_runner()
    for command in commands:
        result = runner.invoke(args=["lms", *command, "--help"])
        assert result.exit_code == 0, (command, result.output)
