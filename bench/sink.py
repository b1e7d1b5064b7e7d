"""A minimal SMTP sink for the send benchmark: answers every command and discards the mail.

aiosmtpd parses and validates everything and tops out at a few hundred messages a second,
which would measure aiosmtpd rather than Vern's sender; this one only speaks enough SMTP.
Run: python -m bench.sink PORT (prints 'ready' when listening)."""

from __future__ import annotations

import asyncio
import sys


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 bench sink\r\n")
    in_data = False
    received = 0
    while line := await reader.readline():
        if in_data:
            if line == b".\r\n":
                in_data = False
                received += 1
                writer.write(b"250 OK\r\n")
            continue
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            writer.write(b"250-bench\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            in_data = True
            writer.write(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 OK\r\n")
        await writer.drain()
    writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_session, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
