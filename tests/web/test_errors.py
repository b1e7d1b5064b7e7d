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


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/login", 200),
        ("get", "/no-such-page", 404),
        ("get", "/logout", 405),
        ("get", "/api/v1/onboarding", 401),
        ("post", "/login", 400),  # no CSRF token
    ],
)
def test_every_response_carries_the_security_headers_and_no_store(
    app: Flask, method: str, url: str, status: int
) -> None:
    """ASVS 14.4.3-14.4.7 and 8.2.1, on pages, errors and API problems alike."""
    response = getattr(app.test_client(), method)(url)
    assert response.status_code == status
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def test_hsts_is_sent_over_https_and_static_files_may_be_cached(app: Flask) -> None:
    client = app.test_client()
    secure = client.get("/login", base_url="https://vern.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    with client.get("/static/style.css") as static:
        assert static.headers.get("Cache-Control") != "no-store"
        assert static.headers["X-Content-Type-Options"] == "nosniff"
