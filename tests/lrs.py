"""A real LRS for the tests: Ralph, started from its own virtualenv (.venv-lrs, which `make
test` creates; its pinned FastAPI and httpx must not meet Vern's)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lms.config import PROJECT_ROOT
from tests.smtp import free_port

RALPH_PYTHON = PROJECT_ROOT / ".venv-lrs" / "bin" / "python"
RALPH = PROJECT_ROOT / ".venv-lrs" / "bin" / "ralph"
USERNAME = "vern"
PASSWORD = "lrs-password-for-tests"  # noqa: S105 - a throw-away LRS


@dataclass
class Ralph:
    url: str  # the xAPI base, ending in /xAPI/
    process: subprocess.Popen[bytes]

    def statements(self) -> list[dict[str, Any]]:
        """Every statement the LRS stored, read back through its own API."""
        found: list[dict[str, Any]] = []
        more = self.url + "statements?limit=500"
        while more:
            body = self._get(more)
            found += body["statements"]
            more = body.get("more") and self.url.split("/xAPI/")[0] + body["more"]
        return found

    def _get(self, url: str) -> dict[str, Any]:
        credentials = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
            url,
            headers={"Authorization": f"Basic {credentials}", "X-Experience-API-Version": "1.0.3"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_ralph(folder: Path) -> Ralph:
    if not RALPH_PYTHON.exists():  # `make test` always builds it; only a bare pytest lacks it
        pytest.fail("Ralph is not installed: run `make test`, which creates .venv-lrs")
    environment = {
        **os.environ,
        "RALPH_APP_DIR": str(folder / "app"),
        "RALPH_AUTH_FILE": str(folder / "auth.json"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(folder / "statements"),
    }
    subprocess.run(  # noqa: S603
        [
            str(RALPH),
            "auth",
            "-u",
            USERNAME,
            "-p",
            PASSWORD,
            "-s",
            "all",
            "-A",
            USERNAME,
            "https://vern.example.org",
            "-w",
        ],
        env=environment,
        check=True,
        capture_output=True,
    )
    port = free_port()
    with (folder / "ralph.log").open("wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(  # noqa: S603
            [str(RALPH_PYTHON), str(Path(__file__).with_name("ralph_server.py")), str(port)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(base + "/__heartbeat__", timeout=1):  # noqa: S310
                return Ralph(base + "/xAPI/", process)
        except (urllib.error.URLError, OSError):
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("Ralph did not start: " + (folder / "ralph.log").read_text())
