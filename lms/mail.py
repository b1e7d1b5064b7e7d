"""Sending mail: one protocol, three transports (SMTP, console for the embedded set-up, memory).

Nothing here decides *what* to send; the outbox sender hands over finished messages and
learns whether the server took each one."""

from __future__ import annotations

import base64
import logging
import secrets
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from typing import Protocol

from lms.config import Settings

log = logging.getLogger(__name__)


class MailError(Exception):
    """The message was not accepted; `permanent` means retrying cannot help (e.g. 5xx)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class OutgoingMail:
    message_id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    cc: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def to_mime(self) -> str:
        """The message as RFC 5322 text: multipart/alternative with base64 UTF-8 parts.

        Written out directly because the stdlib generator's header folding costs more than
        everything else in the send loop; the structure is the plainest MIME there is, and
        the tests parse every message a real SMTP server receives."""
        headers = [
            ("Message-ID", self.message_id),
            ("Date", formatdate(localtime=False, usegmt=True)),
            ("From", _header(self.sender)),
            ("To", ", ".join(self.to)),
            *([("Cc", ", ".join(self.cc))] if self.cc else []),
            ("Subject", _header(self.subject)),
            ("Auto-Submitted", "auto-generated"),
            *((name, _header(value)) for name, value in self.headers),
            ("MIME-Version", "1.0"),
        ]
        lines = [f"{name}: {value}" for name, value in headers]
        if self.html is None:
            lines += _part_headers("plain") + ["", _base64(self.text)]
        else:
            boundary = f"=_vern_{secrets.token_hex(12)}"
            lines += [f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
            for subtype, body in (("plain", self.text), ("html", self.html)):
                lines += [f"--{boundary}", *_part_headers(subtype), "", _base64(body)]
            lines.append(f"--{boundary}--")
        return "\r\n".join(lines) + "\r\n"

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc]


def _part_headers(subtype: str) -> list[str]:
    return [f'Content-Type: text/{subtype}; charset="utf-8"', "Content-Transfer-Encoding: base64"]


def _base64(text: str) -> str:
    # encodebytes wraps at 76 characters, as MIME requires.
    return (
        base64.encodebytes(text.encode("utf-8")).decode("ascii").rstrip("\n").replace("\n", "\r\n")
    )


def _header(value: str) -> str:
    """ASCII stays as it is; anything else is RFC 2047-encoded (Norwegian subjects)."""
    value = " ".join(value.splitlines())  # no header injection through a line break
    return value if value.isascii() else Header(value, "utf-8").encode(linesep="\r\n")


Send = Callable[[OutgoingMail], None]


class Mailer(Protocol):
    def connection(self) -> AbstractContextManager[Send]:
        """Open a connection; the yielded callable sends one message or raises MailError."""
        ...


@dataclass
class SmtpMailer:
    """Sends through an SMTP relay, one connection per batch."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 30.0

    @contextmanager
    def connection(self) -> Iterator[Send]:
        try:
            if self.use_ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
            if self.username:
                client.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot reach SMTP server {self.host}:{self.port}: {exc}") from exc

        def send(mail: OutgoingMail) -> None:
            try:
                refused = client.sendmail(mail.sender_address, mail.recipients, mail.to_mime())
            except smtplib.SMTPRecipientsRefused as exc:
                raise MailError(
                    f"all recipients refused: {exc.recipients}", permanent=True
                ) from exc
            except smtplib.SMTPResponseException as exc:
                raise MailError(
                    f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
                ) from exc
            except (OSError, smtplib.SMTPException) as exc:
                raise MailError(f"SMTP failure: {exc}") from exc
            if refused:
                log.warning("SMTP refused some recipients of %s: %s", mail.message_id, refused)

        try:
            yield send
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


@dataclass
class ConsoleMailer:
    """The embedded default: prints each message to the log instead of sending it."""

    @contextmanager
    def connection(self) -> Iterator[Send]:
        def send(mail: OutgoingMail) -> None:
            log.info(
                "mail (console sink) %s\nTo: %s\nCc: %s\nSubject: %s\n\n%s",
                mail.message_id,
                ", ".join(mail.to),
                ", ".join(mail.cc),
                mail.subject,
                mail.text,
            )

        yield send


@dataclass
class MemoryMailer:
    """Keeps messages in a list (tests); can be told to fail like a server that is down."""

    sent: list[OutgoingMail] = field(default_factory=list)
    down: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def connection(self) -> Iterator[Send]:
        if self.down:
            raise MailError("memory mailer is down")

        def send(mail: OutgoingMail) -> None:
            with self._lock:
                self.sent.append(mail)

        yield send


def sender_address(name: str, address: str) -> str:
    return formataddr((name, address))


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when a host is configured, otherwise the console sink."""
    if not settings.smtp_host:
        return ConsoleMailer()
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        starttls=settings.smtp_starttls,
        use_ssl=settings.smtp_ssl,
    )
