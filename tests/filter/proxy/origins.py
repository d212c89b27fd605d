"""Test origin servers on loopback for the proxy tests: plain HTTP and TLS (self-signed)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ODD_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Length: 11\r\n"
    b"X-Odd:   spaced   out  \r\n"
    b"set-cookie: a=1; Path=/\r\n"
    b"Set-Cookie: b=2\r\n\r\n"
    b"hello world"
)
CHUNKED_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
)
CLOSE_RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"


def make_cert(tmp: Path, names: list[str]) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for ``names``: (cert file, key file, DER bytes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "origin.pem", tmp / "origin.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, cert.public_bytes(serialization.Encoding.DER)


async def read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    """The request body after ``head`` (Content-Length or chunked, decoded)."""
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        out = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return out
            out += await reader.readexactly(size)
            await reader.readexactly(2)
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":")[1]))
    return b""


@dataclass
class HttpOrigin:
    """A plain HTTP origin whose answer depends on the path; records every request head."""

    heads: list[bytes] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> HttpOrigin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                self.heads.append(head)
                path = head.split(b" ")[1]
                if not await self._answer(path, head, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _answer(
        self, path: bytes, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if path.startswith(b"/chunked"):
            writer.write(CHUNKED_RESPONSE)
        elif path.startswith(b"/close"):
            writer.write(CLOSE_RESPONSE)
            await writer.drain()
            return False
        elif path.startswith(b"/continue"):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await read_body(reader, head)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        elif path.startswith(b"/echo"):
            body = await read_body(reader, head)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        elif path.startswith(b"/big"):
            size = int(path.split(b"/")[2])
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = bytes(range(256)) * 256
            sent = 0
            while sent < size:
                piece = chunk[: size - sent]
                writer.write(piece)
                sent += len(piece)
                await writer.drain()
        elif path.startswith(b"/slow"):
            await asyncio.sleep(3600)
        elif path.startswith(b"/reset"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
            await writer.drain()
            writer.transport.abort()
            return False
        elif path.startswith(b"/upgrade"):
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\n")
            while data := await reader.read(1024):
                writer.write(data.upper())
            return False
        else:
            writer.write(ODD_RESPONSE)
        await writer.drain()
        return True


@dataclass
class TlsOrigin:
    """A TLS echo server with a self-signed certificate: answers ``"echo:" + data``."""

    cert_file: Path
    key_file: Path
    server: asyncio.Server | None = None
    port: int = 0
    handshakes: int = 0
    server_names: list[str | None] = field(default_factory=list)

    async def start(self) -> TlsOrigin:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_file, self.key_file)

        def sni_seen(obj: Any, name: str | None, _ctx: Any) -> None:
            self.server_names.append(name)

        ctx.sni_callback = sni_seen
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        try:
            while data := await reader.read(65536):
                writer.write(b"echo:" + data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
