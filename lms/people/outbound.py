"""The one outbound HTTP policy: every request Vern makes to an address an admin typed in
(webhooks, Learning Record Stores, LTI platforms, identity providers) goes through it.

An admin's URL must not make Vern probe its own network (a cloud metadata service at
169.254.169.254, a database port on 127.0.0.1, an intranet page): the host is resolved, every
address it resolves to is checked, and the connection goes to the address that was checked, so
DNS answering differently a moment later (rebinding) cannot switch it. Loopback, link-local,
private, reserved and multicast addresses are refused unless the operator lists the host or
network (LMS_OUTBOUND_ALLOW) for an on-premises system. Redirects are never followed (a POST
must not turn into a GET somewhere else), every request has a timeout, production speaks
https only, and a reply's body is never shown to anyone: callers report a status and a short
reason.

It lives in the lowest package that talks to the network (single sign-on in lms.people), so
lms.integrations uses the same code."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

from lms.config import Settings

TIMEOUT_SECONDS = 10.0
MAX_JSON_BYTES = 512 * 1024
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundError(Exception):
    """A request that did not give a usable reply; `reason` is short and never holds the
    reply's body (which may be anything the far end chose to say)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutboundRefused(OutboundError):
    """The policy does not let Vern send this request (scheme, or where the host points)."""


def _plain(address: Address) -> Address:
    # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address it carries.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def public(address: Address) -> bool:
    """Whether an address is on the public internet (not loopback, link-local, private,
    shared, reserved or multicast)."""
    address = _plain(address)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Policy:
    """Where Vern may send requests: public addresses, plus the hosts and networks the operator
    allows; https only where `https_only` (production)."""

    allow: tuple[str, ...] = ()
    https_only: bool = True
    timeout: float = TIMEOUT_SECONDS
    # Certificate authorities for https (a company CA); None: the public ones (certifi).
    ca_bundle: str | None = None
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        hosts, networks = parse_allow(self.allow)
        object.__setattr__(self, "_hosts", hosts)
        object.__setattr__(self, "_networks", networks)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The policy the operator configured (LMS_OUTBOUND_ALLOW; https only in production)."""
        return cls(
            allow=settings.outbound_allow,
            https_only=settings.outbound_https_only,
            ca_bundle=str(settings.outbound_ca_bundle) if settings.outbound_ca_bundle else None,
        )

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("https",) if self.https_only else ("https", "http")

    def check_url(self, url: str) -> None:
        """Refuse a URL whose scheme the policy does not allow or that names no host."""
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise OutboundRefused("not a valid URL") from None
        if parts.scheme not in self.schemes:
            raise OutboundRefused(f"{parts.scheme or 'no'} scheme: only {self.schemes[-1]}")
        if not hostname:
            raise OutboundRefused("no host")

    def allows(self, host: str, address: Address) -> bool:
        """Whether `host`, resolved to `address`, may be reached."""
        if host.lower().rstrip(".") in self._hosts:
            return True
        plain = _plain(address)
        if any(plain in network for network in self._networks):
            return True
        return public(plain)

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of `host` to connect to, each checked; refused if any is not allowed
        (a name that also points inside is not a public name)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise OutboundRefused(f"{host}: host not found") from None
        found: list[str] = []
        for info in infos:
            text = str(info[4][0]).split("%")[0]
            if not self.allows(host, ipaddress.ip_address(text)):
                raise OutboundRefused(f"{host}: not a public address")
            if text not in found:
                found.append(text)
        return found

    def session(self, agent: str) -> requests.Session:
        """A requests session that sends only what this policy allows."""
        http = guard(GuardedSession(self), self, agent)
        # GuardedSession hands a 3xx back as the reply; requests raises instead of doing so
        # when no redirect at all is allowed.
        http.max_redirects = 1
        return http


def parse_allow(entries: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """LMS_OUTBOUND_ALLOW's entries as host names and networks ("10.1.2.3", "10.8.0.0/16",
    "hr.internal")."""
    hosts: set[str] = set()
    networks: list[Network] = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return frozenset(hosts), tuple(networks)


class _GuardedConnection(HTTPConnection):
    """Connects only to an address the policy checked, resolved once for this connection."""

    policy: Policy

    def _new_conn(self) -> socket.socket:
        problem: OSError | None = None
        for address in self.policy.resolve(self._dns_host, self.port):
            try:
                return connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as error:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from error
            except OSError as error:
                problem = error
        raise NewConnectionError(self, f"Failed to establish a new connection: {problem}")


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    # TLS still verifies the certificate against the host name (SNI too): only the socket
    # underneath goes to the checked address.
    pass


class _GuardedAdapter(HTTPAdapter):
    """Mounts connection pools whose connections go through the policy; a timeout always."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        plain = type("Conn", (_GuardedConnection,), {"policy": self.policy})
        tls = type("TLSConn", (_GuardedHTTPSConnection,), {"policy": self.policy})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("Pool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("TLSPool", (HTTPSConnectionPool,), {"ConnectionCls": tls}),
        }

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.policy.check_url(str(request.url))
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.policy.timeout
        return super().send(request, *args, **kwargs)


class GuardedSession(requests.Session):
    """A session that never follows a redirect: a 3xx is the reply."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def guard(session: requests.Session, policy: Policy, agent: str) -> Any:
    """Put `session` (e.g. a library's own subclass) under the policy: guarded connections,
    no redirects (a 3xx is an error, TooManyRedirects), no proxy or .netrc from the
    environment (a proxy would connect instead of Vern, to wherever it is told)."""
    adapter = _GuardedAdapter(policy)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False
    session.max_redirects = 0
    if policy.ca_bundle:
        # REQUESTS_CA_BUNDLE is not read with trust_env off: the operator's setting is.
        session.verify = policy.ca_bundle
    session.headers["User-Agent"] = agent
    return session


def failure(error: Exception) -> str:
    """A short reason for a failed request: the policy's reason, or the error's kind."""
    if isinstance(error, OutboundError):
        return error.reason
    if isinstance(error, requests.ConnectionError) and isinstance(error.__context__, OutboundError):
        return error.__context__.reason
    return type(error).__name__


def status_reason(response: requests.Response) -> str:
    """ "HTTP 404 Not Found": what a page or the outbox may say about a reply."""
    reason = str(response.reason or "")[:60].replace("\r", " ").replace("\n", " ")
    return f"HTTP {response.status_code} {reason}".strip()


def get_json(policy: Policy, url: str, *, agent: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """GET a JSON document under the policy: a 200 reply of at most `max_bytes`, parsed."""
    policy.check_url(url)
    try:
        with (
            policy.session(agent) as http,
            http.get(url, stream=True) as response,
        ):
            body = response.raw.read(max_bytes + 1, decode_content=True)
    except OutboundError:
        raise
    except requests.RequestException as error:
        raise OutboundError(f"{urlsplit(url).hostname}: {failure(error)}") from None
    if response.status_code != 200:
        raise OutboundError(f"{urlsplit(url).hostname}: {status_reason(response)}")
    if len(body) > max_bytes:
        raise OutboundError(f"{urlsplit(url).hostname}: reply too large")
    try:
        return json.loads(body)
    except ValueError:
        raise OutboundError(f"{urlsplit(url).hostname}: not JSON") from None
