"""Error pages come in the site's layout; our own failures are logged and give a 500 page."""

from __future__ import annotations

import logging

import pytest
from flask import Flask


def test_unexpected_error_gives_a_500_page_and_is_logged(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> str:
        raise RuntimeError("boom in a view")

    app.add_url_rule("/broken-for-test", "broken", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/broken-for-test")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong on our side" in html
    assert 'class="site-header"' in html
    assert "boom in a view" not in html  # no traceback for users
    assert any("boom in a view" in str(r.exc_info) for r in caplog.records if r.exc_info)


def test_security_headers_are_set_on_every_page(app: Flask) -> None:
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_method_not_allowed_is_a_page_not_a_traceback(app: Flask) -> None:
    response = app.test_client().get("/logout")
    assert response.status_code == 405
    assert 'class="site-header"' in response.get_data(as_text=True)
