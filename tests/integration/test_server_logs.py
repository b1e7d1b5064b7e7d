"""A test that fails while gunicorn serves prints the server's log into the test output: the
temporary directory holding it is gone a few runs later, and with it the only explanation of a
500 under load."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tests.live import gunicorn


def test_a_failure_while_serving_prints_the_server_log(
    fresh_database_url: str, courses_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing_test() -> None:
        with gunicorn(fresh_database_url, tmp_path / "web", courses_root) as url:
            with urllib.request.urlopen(f"{url}/login", timeout=10) as response:  # noqa: S310
                assert response.status == 200
            raise AssertionError("the test failed")

    with pytest.raises(AssertionError, match="the test failed"):
        failing_test()
    shown = capsys.readouterr().err
    assert f"----- gunicorn log {tmp_path / 'web' / 'gunicorn.log'} -----" in shown
    assert "Listening at: http://127.0.0.1:" in shown  # gunicorn's own lines, as written


def test_a_run_that_passes_prints_nothing(
    fresh_database_url: str, courses_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with gunicorn(fresh_database_url, tmp_path / "web", courses_root):
        pass
    assert "gunicorn log" not in capsys.readouterr().err
