"""A stand-in LTI 1.3 platform for the tests (no Moodle needed): its own RSA key, a JWKS and an
OAuth2 token endpoint served on 127.0.0.1, id_tokens it signs (header with `kid`), and an AGS
line item that records the scores a tool posts to it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

from tests.smtp import free_port

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DEEP_LINKING = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
ISSUER = "https://lms.example.test"
CLIENT_ID = "vern-client-1"
DEPLOYMENT_ID = "deployment-1"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk: dict[str, Any] = JWK.from_pem(public).export_public(as_dict=True)
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


@dataclass
class ScorePost:
    lineitem_path: str
    authorization: str
    content_type: str
    body: dict[str, Any]


@dataclass
class TestPlatform:
    """Start with `start()`, stop with `close()`. `scores_status` makes the score endpoint fail."""

    __test__ = False  # not a pytest test class

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = "platform-key-1"
    scores: list[ScorePost] = field(default_factory=list)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    scores_status: int = 200
    port: int = 0
    # What /jwks answers instead of the platform's key set (a broken platform), if set.
    jwks_body: dict[str, Any] | None = None

    def start(self) -> TestPlatform:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/jwks":
                    key_set = {"keys": [_public_jwk(platform.key, platform.kid)]}
                    self._reply(200, key_set if platform.jwks_body is None else platform.jwks_body)
                else:
                    self._reply(404, {})

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/token":
                    form = parse_qs(body.decode())
                    platform.token_requests.append(form)
                    self._reply(
                        200,
                        {
                            "access_token": "token-" + uuid.uuid4().hex,
                            "token_type": "Bearer",
                            "expires_in": 3600,
                        },
                    )
                elif self.path.endswith("/scores"):
                    platform.scores.append(
                        ScorePost(
                            self.path.removesuffix("/scores"),
                            self.headers.get("Authorization", ""),
                            self.headers.get("Content-Type", ""),
                            json.loads(body),
                        )
                    )
                    self._reply(platform.scores_status, {})
                else:
                    self._reply(404, {})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lineitem(self, name: str = "course-1") -> str:
        return f"{self.base}/lineitems/{name}"

    def registration(self, **overrides: Any) -> dict[str, Any]:
        """What an admin would type into Vern for this platform."""
        return {
            "name": "Test LMS",
            "issuer": ISSUER,
            "client_id": CLIENT_ID,
            "deployment_ids": [DEPLOYMENT_ID],
            "auth_login_url": f"{self.base}/auth",
            "auth_token_url": f"{self.base}/token",
            "key_set_url": f"{self.base}/jwks",
            **overrides,
        }

    def id_token(
        self,
        *,
        nonce: str,
        sub: str = "lms-user-42",
        email: str | None = "kari@example.test",
        course: str | None = "basics",
        message_type: str = "LtiResourceLinkRequest",
        audience: str = CLIENT_ID,
        deployment_id: str = DEPLOYMENT_ID,
        expires_in: int = 300,
        signing_key: rsa.RSAPrivateKey | None = None,
        lineitem: str | None = None,
        custom: dict[str, str] | None = None,
        **claims: Any,
    ) -> str:
        """An id_token as the platform posts it to the tool, signed with its key."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": [audience],
            "sub": sub,
            "iat": now,
            "exp": now + expires_in,
            "nonce": nonce,
            "name": "Kari Nordmann",
            LTI + "version": "1.3.0",
            LTI + "message_type": message_type,
            LTI + "deployment_id": deployment_id,
            LTI + "roles": [INSTRUCTOR if message_type == "LtiDeepLinkingRequest" else LEARNER],
            LTI + "context": {"id": "lms-course-7", "title": "Onboarding"},
            LTI + "custom": {**({"course": course} if course else {}), **(custom or {})},
            **claims,
        }
        if email is not None:
            body["email"] = email
        if message_type == "LtiResourceLinkRequest":
            body[LTI + "resource_link"] = {"id": "link-" + (course or "none")}
        if lineitem:
            body[AGS] = {
                "scope": [
                    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
                    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
                ],
                "lineitem": lineitem,
            }
        if message_type == "LtiDeepLinkingRequest":
            body[DEEP_LINKING] = {
                "deep_link_return_url": f"{self.base}/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "data": "opaque-platform-data",
            }
        return jwt.encode(
            body, _pem(signing_key or self.key), algorithm="RS256", headers={"kid": self.kid}
        )


def state_and_nonce(location: str) -> tuple[str, str]:
    """From the tool's redirect to the platform's authorisation endpoint."""
    query = parse_qs(urlsplit(location).query)
    return query["state"][0], query["nonce"][0]
