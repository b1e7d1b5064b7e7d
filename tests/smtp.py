"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, and can go down."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from html import escape
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def _part(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return str(part.get_content()) if part is not None else ""

    def text(self) -> str:
        return self._part("plain")

    def html(self) -> str:
        return self._part("html")

    def link(self, pattern: str) -> str:
        """The URL the plain-text part gives where `pattern` matches (its first group, else
        the whole match); the HTML part must link to the very same URL."""
        match = re.search(pattern, self.text())
        assert match, self.text()
        url = match.group(1) if match.re.groups else match.group(0)
        assert f'href="{escape(url)}"' in self.html(), self.html()
        return url


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0  # seconds per message: a slow relay, so a batch takes a while

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(
                Received(
                    list(envelope.rcpt_tos),
                    message_from_bytes(envelope.content, policy=policy.default),  # type: ignore[arg-type]
                )
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    """Start/stop an SMTP server on a fixed port, so a 'down' server refuses connections."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Handler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
