"""Sending mail: one protocol, three transports (SMTP, console for the embedded set-up, memory).

Nothing here decides *what* to send; the outbox sender hands over finished messages and
learns whether the server took each one."""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
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

    def to_email_message(self) -> EmailMessage:
        message = EmailMessage()
        message["Message-ID"] = self.message_id
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        if self.cc:
            message["Cc"] = ", ".join(self.cc)
        message["Subject"] = self.subject
        message["Auto-Submitted"] = "auto-generated"
        for name, value in self.headers:
            message[name] = value
        message.set_content(self.text)
        if self.html is not None:
            message.add_alternative(self.html, subtype="html")
        return message


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
                refused = client.send_message(mail.to_email_message())
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
