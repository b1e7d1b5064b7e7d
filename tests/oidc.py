"""A real OpenID provider on 127.0.0.1 (oidc-provider-mock, built on Authlib's server) that
the tests can turn against Vern: rotate its signing key, or have it sign id_tokens that are
wrong in one way (another audience, a stranger's key)."""

from __future__ import annotations

import base64
import json
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import flask
import pytest
import requests
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer, make_server

# The provider still imports authlib.jose, whose deprecation Authlib always shows (it adds an
# "always" filter of its own on import, ahead of pytest's); Vern itself uses joserfc.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    import oidc_provider_mock

Claims = dict[str, Any]
# Shorter than Vern keeps a sign-in under way (10 minutes), so a test can let a token expire.
TOKEN_MINUTES = 5


class TestProvider:
    """oidc-provider-mock served on a thread; `url` is its issuer."""

    __test__ = False

    def __init__(self) -> None:
        self.app = oidc_provider_mock.app(
            require_nonce=True, access_token_max_age=timedelta(minutes=TOKEN_MINUTES)
        )
        self._storage: Any = None
        self.rewrite: Callable[[Claims], Claims] | None = None
        self.stranger_key: RSAKey | None = None
        self.token_requests = 0

        @self.app.before_request
        def keep_storage() -> None:
            self._storage = flask.g.oidc_provider_mock_storage

        inner = self.app.wsgi_app
        self.app.wsgi_app = self._tampering(inner)  # type: ignore[method-assign]
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.start()
        requests.get(self.discovery_url, timeout=5).raise_for_status()

    def stop(self) -> None:
        assert self._server
        assert self._thread
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def url(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def set_user(self, sub: str, **claims: Any) -> None:
        """What the provider says about `sub` (PUT /users/<sub>)."""
        requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5).raise_for_status()

    def authorize(self, authorization_url: str, sub: str) -> str:
        """The person `sub` signs in at the provider; returns where it sends the browser."""
        response = requests.post(
            authorization_url, data={"sub": sub}, allow_redirects=False, timeout=5
        )
        assert response.status_code == 302, response.text
        return str(response.headers["Location"])

    def rotate_key(self) -> None:
        """A new signing key: the old one leaves the key set (a provider's key rotation)."""
        from authlib.jose import RSAKey as AuthlibRSAKey

        self._storage.jwk = AuthlibRSAKey.generate_key(is_private=True)

    def _key(self) -> RSAKey:
        if self.stranger_key is not None:
            return self.stranger_key
        return RSAKey.import_key(self._storage.jwk.as_dict(is_private=True))

    def _resign(self, id_token: str) -> str:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if self.rewrite is not None:
            claims = self.rewrite(claims)
        key = self._key()
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def _tampering(self, inner: Any) -> Callable[..., Iterable[bytes]]:
        """Let the token endpoint's id_token be re-signed after a change (see `rewrite`)."""

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            if environ.get("PATH_INFO") != "/oauth2/token":
                return inner(environ, start_response)  # type: ignore[no-any-return]
            self.token_requests += 1
            if self.rewrite is None and self.stranger_key is None:
                return inner(environ, start_response)  # type: ignore[no-any-return]
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
                captured.update(status=status, headers=headers)
                return lambda _data: None

            body = b"".join(inner(environ, capture))
            reply = json.loads(body)
            if "id_token" in reply:
                reply["id_token"] = self._resign(reply["id_token"])
            out = json.dumps(reply).encode()
            headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
            start_response(captured["status"], [*headers, ("Content-Length", str(len(out)))])
            return [out]

        return app


def local(url: str) -> str:
    """The path and query of a URL Vern's test client can GET."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture
def oidc_provider() -> Iterator[TestProvider]:
    """A running OpenID provider on 127.0.0.1 for one test."""
    provider = TestProvider()
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
