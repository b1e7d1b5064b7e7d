"""A local HTTP server for tests of what Vern sends out (webhooks, LRS statements, key sets,
token endpoints): it records every request and answers each with what the test set, or what
its `answer` function decides for that request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.smtp import free_port


@dataclass(frozen=True)
class Seen:
    """One request the stub received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Stub:
    """Answers every request with `reply` (status, body, headers), or with `answer(request)`
    when that is set; `requests` lists what arrived, in order."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.reply = reply or Reply()
        self.answer: Callable[[Seen], Reply] | None = None
        self.requests: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen(self.command, self.path, dict(self.headers), body)
                stub.requests.append(seen)
                reply = stub.answer(seen) if stub.answer is not None else stub.reply
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = _serve  # noqa: N815 - http.server's naming

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def address(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@contextmanager
def running(reply: Reply | None = None) -> Iterator[Stub]:
    """A stub for the length of a `with` block (or a fixture's yield)."""
    stub = Stub(reply)
    try:
        yield stub
    finally:
        stub.close()
