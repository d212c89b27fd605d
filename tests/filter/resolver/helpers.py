"""Loopback DNS peers for the resolver tests: dnsmasq, a scriptable upstream, a resolver thread.

Everything binds 127.0.0.1 on port 0 (or a free port for dnsmasq, which cannot report
the port it picked), so parallel runs never collide and nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from kiosk_agent.config import FilterConfig, HostPort
from kiosk_agent.filter.resolver.blocklist import HostIndex
from kiosk_agent.filter.resolver.chain import Chain, build_chain
from kiosk_agent.filter.resolver.server import DnsServer
from kiosk_agent.net.ports import free_port
from kiosk_agent.reporting.events import EventBus


@contextmanager
def run_dnsmasq(tmp: Path, exe: str, lines: Sequence[str]) -> Iterator[HostPort]:
    """dnsmasq answering only its local records (``no-resolv``) on a loopback port."""
    port = free_port()
    conf = tmp / "dnsmasq.conf"
    conf.write_text(
        "\n".join(
            [
                "no-resolv",
                "no-hosts",
                f"port={port}",
                "listen-address=127.0.0.1",
                "bind-interfaces",
                "cache-size=0",
                *lines,
            ]
        )
        + "\n"
    )
    argv = [exe, f"--conf-file={conf}", "--keep-in-foreground", f"--pid-file={tmp / 'dm.pid'}"]
    if os.geteuid() == 0:
        argv.append("--user=root")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    address = HostPort("127.0.0.1", port)
    try:
        wait_for_dns(address, "ready.test", proc)
        yield address
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def wait_for_dns(address: HostPort, name: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"dnsmasq exited: {err}")
        try:
            ask(address, name, timeout=0.3)
            return
        except (TimeoutError, dns.exception.Timeout, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"{address} did not answer")


def ask(
    address: HostPort,
    name: str,
    rdtype: str = "A",
    *,
    tcp: bool = False,
    timeout: float = 3.0,
    use_edns: bool | int = False,
) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=use_edns)
    if tcp:
        return dns.query.tcp(q, address.host, port=address.port, timeout=timeout)
    return dns.query.udp(q, address.host, port=address.port, timeout=timeout)


@dataclass
class ScriptedUpstream:
    """A UDP+TCP upstream in a thread whose behaviour a test sets per moment.

    ``mode``: ``answer`` (A 192.0.2.x for any name with ``ttl``), ``silent`` (never
    answers), ``servfail``, ``nxdomain`` (with an SOA), ``truncate`` (UDP answers have TC
    set and no records; TCP answers are complete).
    """

    mode: str = "answer"
    ttl: int = 300
    address: HostPort = field(default_factory=lambda: HostPort("127.0.0.1", 0))
    udp_queries: int = 0
    tcp_queries: int = 0
    answer_ip: str = "192.0.2.1"
    records: int = 1
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def reply(self, wire: bytes, over_tcp: bool) -> bytes | None:
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            return None  # the resolver forwards what it can parse; dnspython may be stricter
        if self.mode == "silent":
            return None
        r = dns.message.make_response(q)
        if self.mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
        elif self.mode == "nxdomain":
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(
                dns.rrset.from_text(
                    "test.", self.ttl, "IN", "SOA", "ns.test. h.test. 1 3600 600 86400 " + "60"
                )
            )
        elif self.mode == "truncate" and not over_tcp:
            r.flags |= dns.flags.TC
        else:
            qname = q.question[0].name
            rdtype = q.question[0].rdtype
            if rdtype == dns.rdatatype.A:
                base = self.answer_ip.rsplit(".", 1)[0]
                ips = [
                    self.answer_ip if self.records == 1 else f"{base}.{i + 1}"
                    for i in range(self.records)
                ]
                r.answer.append(dns.rrset.from_text(qname, self.ttl, "IN", "A", *ips))
        return bytes(r.to_wire(max_size=65535))

    def start(self) -> HostPort:
        for _ in range(50):  # the UDP port's number may be taken for TCP: try another
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                tcp.close()
                udp.close()
                continue
            break
        else:
            raise RuntimeError("no free port pair")
        tcp.listen(16)
        self.address = HostPort("127.0.0.1", port)

        def serve() -> None:
            try:
                while not self._stop.is_set():
                    ready, _, _ = select.select([udp, tcp], [], [], 0.05)
                    for s in ready:
                        if s is udp:
                            data, addr = udp.recvfrom(65535)
                            self.udp_queries += 1
                            out = self.reply(data, False)
                            if out is not None:
                                udp.sendto(out, addr)
                        else:
                            conn, _ = tcp.accept()
                            with conn:
                                conn.settimeout(2)
                                try:
                                    (n,) = struct.unpack("!H", _recv_exact(conn, 2))
                                    data = _recv_exact(conn, n)
                                except (OSError, EOFError):
                                    continue
                                self.tcp_queries += 1
                                out = self.reply(data, True)
                                if out is not None:
                                    conn.sendall(struct.pack("!H", len(out)) + out)
            finally:
                udp.close()
                tcp.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        return self.address

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


class FakeIndex:
    """Stands in for ``BlocklistIndex``: the same ``lookup_host`` over a set of names."""

    def __init__(self, entries: dict[str, str]) -> None:
        self.entries = entries

    def lookup_host(self, host: str) -> str | None:
        parts = host.lower().strip(".").split(".")
        for i in range(len(parts)):
            category = self.entries.get(".".join(parts[i:]))
            if category is not None:
                return category
        return None


class ResolverThread:
    """The resolver chain and server on their own event loop in a background thread."""

    def __init__(
        self,
        config: FilterConfig,
        upstreams: Sequence[HostPort],
        index: HostIndex | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.index: HostIndex | None = index
        self.bus = bus or EventBus()
        self.config = config
        self.upstreams = upstreams
        self.loop = asyncio.new_event_loop()
        self.chain: Chain | None = None
        self.server: DnsServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ResolverThread:
        self._thread.start()
        self.call(self._start).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self._stop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def address(self) -> HostPort:
        assert self.server is not None
        return self.server.addresses[0]

    def call(self, fn: Callable[[], Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(fn(), self.loop)

    async def _start(self) -> None:
        self.chain = build_chain(self.config, self.upstreams, lambda: self.index, self.bus)
        self.server = DnsServer(self.chain.head, [HostPort("127.0.0.1", 0)])
        await self.server.start()

    async def _stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.chain is not None:
            await self.chain.upstream.close()
