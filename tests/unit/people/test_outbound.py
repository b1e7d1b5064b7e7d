"""The one outbound HTTP policy: where Vern may send a request, and how it is sent."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lms.config import Settings
from lms.people import outbound
from lms.people.outbound import OutboundRefused, Policy
from lms.people.sso.oidc import ProviderConfig, ProviderUnavailable, exchange_code
from tests.http_stub import Reply, Seen, Stub, running

LOCAL = Policy(allow=("127.0.0.1",), https_only=False)


def _metadata_or_redirect(seen: Seen) -> Reply:
    if seen.path.startswith("/latest"):
        return Reply(200, b"instance credentials")
    return Reply(307, b"moved", {"Location": "/latest/meta-data/iam/security-credentials/"})


@pytest.fixture
def server() -> Iterator[Stub]:
    """A local server that answers with a redirect to the cloud metadata path (what a hostile
    or compromised receiver does), and serves that path."""
    with running() as stub:
        stub.answer = _metadata_or_redirect
        yield stub


def _calls(stub: Stub) -> list[tuple[str, str]]:
    return [(seen.method, seen.path) for seen in stub.requests]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "169.254.169.254", "10.1.2.3", "172.16.0.1", "192.168.1.1", "0.0.0.0",  # noqa: S104
     "100.64.0.1", "224.0.0.251", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "localhost"],
)  # fmt: skip
def test_loopback_link_local_private_reserved_and_multicast_are_refused_by_default(
    host: str,
) -> None:
    with pytest.raises(OutboundRefused, match="not a public address"):
        Policy().resolve(host, 443)


def test_a_public_address_is_allowed() -> None:
    assert Policy().resolve("93.184.215.14", 443) == ["93.184.215.14"]


def test_the_operator_allows_internal_hosts_and_networks_by_name_address_or_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host == "hr.internal":
            return real("10.9.9.9", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    policy = Policy(allow=("HR.internal", "10.1.2.3", "192.168.0.0/16"))
    assert policy.resolve("hr.internal", 443) == ["10.9.9.9"]
    assert policy.resolve("10.1.2.3", 443) == ["10.1.2.3"]
    assert policy.resolve("192.168.7.7", 443) == ["192.168.7.7"]
    with pytest.raises(OutboundRefused):
        policy.resolve("10.1.2.4", 443)
    with pytest.raises(OutboundRefused):
        policy.resolve("169.254.169.254", 443)


def test_a_name_with_any_inside_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def both(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        return real("93.184.215.14", port, *args, **kwargs) + real(
            "169.254.169.254", port, *args, **kwargs
        )

    monkeypatch.setattr(socket, "getaddrinfo", both)
    with pytest.raises(OutboundRefused):
        Policy().resolve("sneaky.example", 443)


def test_production_sends_over_https_only() -> None:
    production = Settings(env="production", secret_key="k" * 40).validated()
    with pytest.raises(OutboundRefused, match="only https"):
        Policy.from_settings(production).check_url("http://hooks.example.com/x")
    Policy.from_settings(production).check_url("https://hooks.example.com/x")
    Policy(https_only=False).check_url("http://hooks.example.com/x")
    for url in ("ftp://example.com/x", "file:///etc/passwd", "https:///x", "https://h:port/"):
        with pytest.raises(OutboundRefused):
            Policy(https_only=False).check_url(url)


def test_the_allow_list_comes_from_the_environment() -> None:
    settings = Settings.from_env({"LMS_OUTBOUND_ALLOW": "hr.internal, 10.1.2.3,,10.8.0.0/16"})
    assert settings.outbound_allow == ("hr.internal", "10.1.2.3", "10.8.0.0/16")
    assert Settings.from_env({}).outbound_allow == ()


def test_a_request_to_loopback_is_refused_before_anything_is_sent(server: Stub) -> None:
    with (
        Policy(https_only=False).session("test") as http,
        pytest.raises(OutboundRefused, match="not a public address"),
    ):
        http.post(f"http://127.0.0.1:{server.port}/hook", data=b"{}")
    assert _calls(server) == []


def test_a_redirect_is_never_followed(server: Stub) -> None:
    with LOCAL.session("test") as http:
        response = http.post(f"http://127.0.0.1:{server.port}/hook", data=b"{}")
    assert response.status_code == 307
    # The POST did not turn into a GET to the metadata path.
    assert _calls(server) == [("POST", "/hook")]


def test_the_connection_goes_to_the_address_that_was_checked(
    server: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name is looked up once per connection, the checked address is the
    one connected to; a second answer pointing elsewhere is never asked for."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "169.254.169.254"])
    lookups: list[str] = []

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example":
            lookups.append(host)
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    policy = Policy(allow=("hooks.example",), https_only=False)
    with policy.session("test") as http:
        response = http.post(f"http://hooks.example:{server.port}/hook", data=b"{}")
    assert response.status_code == 307
    assert lookups == ["hooks.example"]
    assert _calls(server) == [("POST", "/hook")]


def test_proxies_from_the_environment_are_not_used(
    server: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would make the connection for Vern, to wherever the URL says.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("NO_PROXY", "")
    with (
        Policy(https_only=False).session("test") as http,
        pytest.raises(OutboundRefused),
    ):
        http.get("http://169.254.169.254/latest/meta-data/")
    assert _calls(server) == []


def test_every_request_has_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise requests.ConnectionError("stop here")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    with LOCAL.session("test") as http, pytest.raises(requests.ConnectionError):
        http.get("http://127.0.0.1:9/")
    assert seen["timeout"] == outbound.TIMEOUT_SECONDS


def test_get_json_reports_status_and_never_the_body(server: Stub) -> None:
    with pytest.raises(outbound.OutboundError) as refused:
        outbound.get_json(LOCAL, f"http://127.0.0.1:{server.port}/keys", agent="test")
    assert refused.value.reason == "127.0.0.1: HTTP 307 Temporary Redirect"
    assert "moved" not in str(refused.value)


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.now(UTC) - timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_still_checks_the_certificate_against_the_host_name(
    server: Stub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connecting to the checked address must not weaken TLS: the certificate is verified for
    the name in the URL (SNI too), not for the address."""
    cert_path, key_path = _certificate(tmp_path, "hooks.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.http.socket = context.wrap_socket(server.http.socket, server_side=True)
    real = socket.getaddrinfo

    def local(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host in ("hooks.example", "other.example"):
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local)
    # The operator's company CA (LMS_OUTBOUND_CA_BUNDLE) signs the on-premises certificate.
    settings = Settings.from_env(
        {
            "LMS_OUTBOUND_ALLOW": "hooks.example,other.example",
            "LMS_OUTBOUND_CA_BUNDLE": str(cert_path),
        }
    )
    with Policy.from_settings(settings).session("test") as http:
        response = http.get(f"https://hooks.example:{server.port}/latest")
        assert response.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            http.get(f"https://other.example:{server.port}/latest")
    with (
        Policy(allow=("hooks.example",)).session("test") as http,
        pytest.raises(requests.exceptions.SSLError),
    ):
        http.get(f"https://hooks.example:{server.port}/latest")  # not a public CA's


@pytest.mark.parametrize(
    "reply",
    [
        b'{"error": "invalid_grant: the code belongs to payroll-admin@corp.internal"}',
        b'{"error": "' + b"x" * 5000 + b'"}',
        b'{"error": ["not", "a", "code"]}',
    ],
    ids=["sentence", "huge", "not-text"],
)
def test_a_token_endpoint_error_is_named_by_its_code_never_by_what_the_provider_wrote(
    reply: bytes,
) -> None:
    """The `error` of a refusal is the provider's own text: only an RFC 6749 error code
    (a short word) is kept for the audit trail and the admin page."""
    with running(Reply(400, reply, {"Content-Type": "application/json"})) as provider:
        discovery = {"issuer": "https://id.example", "token_endpoint": provider.address("/t")}
        config = ProviderConfig(1, "p", "client", "secret", discovery, None, (), LOCAL)
        with pytest.raises(ProviderUnavailable) as refused:
            exchange_code(config, "code", "https://vern.example/sso/callback", "v" * 43)
    assert refused.value.cause == "token endpoint refused: OAuthError"
    assert len(provider.requests) == 1


def test_a_token_endpoint_error_code_is_kept() -> None:
    reply = b'{"error": "invalid_grant", "error_description": "code expired at db01"}'
    with running(Reply(400, reply, {"Content-Type": "application/json"})) as provider:
        discovery = {"issuer": "https://id.example", "token_endpoint": provider.address("/t")}
        config = ProviderConfig(1, "p", "client", "secret", discovery, None, (), LOCAL)
        with pytest.raises(ProviderUnavailable) as refused:
            exchange_code(config, "code", "https://vern.example/sso/callback", "v" * 43)
    assert refused.value.cause == "token endpoint refused: invalid_grant"
