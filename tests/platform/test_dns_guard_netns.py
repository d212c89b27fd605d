"""The outbound DNS guard for real: nftables in a network namespace the test makes.

Two namespaces joined by a veth pair: the client (where the rules go) at 192.0.2.1, and
a stand-in "public" side holding a resolver (dnsmasq on 192.0.2.53), a DoT-like and a
DoH-like TLS listener (192.0.2.54:853 and :443, 192.0.2.54 being on the test's DoH
list) and an ordinary HTTPS-like listener (192.0.2.55:443, not on the list). Nothing
leaves the namespaces; both are removed at the end whatever happens. Needs root, `ip`,
`nft`, `setpriv` and dnsmasq: skipped otherwise, failed under CI=true.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk_agent.config import Config, FilterConfig, HostPort
from kiosk_agent.filter.watchdog import DnsWatchdog
from kiosk_agent.platform.base import CommandResult, DnsSnapshot
from kiosk_agent.platform.dns_guard import DohAddresses, GuardState
from kiosk_agent.platform.linux_firewall import LinuxDnsGuard
from kiosk_agent.reporting.events import Event, TamperDetected
from kiosk_agent.service.context import ServiceContext
from tests.conftest import REPO_ROOT, require, require_tool
from tests.tls_certs import make_tls_files

RESOLVER = "192.0.2.53"
DOH = "192.0.2.54"
OTHER = "192.0.2.55"
DOH_LIST = DohAddresses((DOH,))
PROBE_PYTHON = "/usr/bin/python3"
REFUSED = ("refused", "blocked")

# Run by `nobody` (or by root without the agent's mark): one connection attempt, printed
# as ok / refused (RST or ICMP came back) / blocked (the kernel refused to send: EPERM, as
# for a UDP datagram rejected by the output hook) / timeout / error. Standard library only.
PROBE = textwrap.dedent(
    """
    import socket, ssl, struct, sys
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    query = struct.pack("!HHHHHH", 0x1717, 0x0100, 1, 0, 0, 0)
    query += b"\\x05ready\\x04test\\x00" + struct.pack("!HH", 1, 1)
    try:
        if kind == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(1.5)
            s.connect((host, port))
            s.send(query)
            s.recv(512)
        elif kind == "tcp":
            s = socket.create_connection((host, port), timeout=1.5)
            s.sendall(struct.pack("!H", len(query)) + query)
            s.recv(2)
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = socket.create_connection((host, port), timeout=1.5)
            ctx.wrap_socket(raw).close()
        print("ok")
    except ConnectionRefusedError:
        print("refused")
    except PermissionError:  # a packet rejected on its way out: EPERM from send()
        print("blocked")
    except (TimeoutError, socket.timeout):
        print("timeout")
    except OSError as e:
        print("error", e.errno)
    """
)

# The TLS listeners of the "public" side.
TLS_SERVER = textwrap.dedent(
    """
    import socket, ssl, sys, threading
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    def serve(host, port):
        ls = socket.create_server((host, port))
        while True:
            conn, _ = ls.accept()
            try:
                ctx.wrap_socket(conn, server_side=True).close()
            except OSError:
                conn.close()
    for addr in sys.argv[3:]:
        host, port = addr.rsplit(":", 1)
        threading.Thread(target=serve, args=(host, int(port)), daemon=True).start()
    print("listening", flush=True)
    threading.Event().wait()
    """
)

# The agent's side, as root in the client namespace: the resolver's real upstream code
# (connected, marked UDP sockets from the pool; the TCP fallback) asks the resolver.
AGENT_QUERY = textwrap.dedent(
    """
    import asyncio, sys
    import dns.message
    from kiosk_agent.config import HostPort
    from kiosk_agent.filter.resolver.handler import answer_bytes
    from kiosk_agent.filter.resolver.upstream import Upstream, tcp_exchange
    from kiosk_agent.net.wire import parse_query

    async def main():
        q = dns.message.make_query("ready.test", "A")
        query = parse_query(q.to_wire())
        server = HostPort(sys.argv[1], 53)
        up = Upstream([server], timeout=1.5)
        try:
            udp = dns.message.from_wire(await answer_bytes(up.resolve(query)))
        finally:
            await up.close()
        tcp = dns.message.from_wire(await tcp_exchange(server, q.to_wire(), q.id, query.question))
        print(udp.answer[0][0].address, tcp.answer[0][0].address)

    asyncio.run(main())
    """
)


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {done.stderr or done.stdout}")
    return done


@dataclass
class Net:
    client: str
    server: str
    tmp: Path

    def in_client(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.client, *argv]

    def probe(self, kind: str, host: str, port: int, *, user: str = "nobody") -> str:
        # The system's Python: an ordinary user cannot reach root's virtualenv.
        argv = [PROBE_PYTHON, "-I", "-c", PROBE, kind, host, str(port)]
        if user != "root":
            argv = ["setpriv", "--reuid", user, "--regid", "nogroup", "--clear-groups", *argv]
        return _run(self.in_client(*argv)).stdout.strip()

    def agent_query(self) -> str:
        env = ["env", f"PYTHONPATH={REPO_ROOT}"]
        done = _run(self.in_client(*env, sys.executable, "-c", AGENT_QUERY, RESOLVER))
        return done.stdout.strip()

    def runner(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        """A ``CommandRunner`` that runs ``nft`` inside the client namespace."""
        done = subprocess.run(
            self.in_client(*argv), capture_output=True, text=True, timeout=timeout, check=False
        )
        return CommandResult(done.returncode, done.stdout, done.stderr)


class NetnsPlatform(LinuxDnsGuard):
    """The Linux guard with its commands run in the client namespace, and DNS settings
    that stay pointed at the agent (the watchdog's DNS half is tested elsewhere)."""

    def __init__(self, net: Net) -> None:
        self.runner = net.runner

    def read_dns(self) -> DnsSnapshot:
        return DnsSnapshot("netns", ("127.0.0.1",))

    def point_dns_at(self, servers: object) -> None:
        raise AssertionError("already pointed at the agent")

    def restore_dns(self, snapshot: DnsSnapshot) -> None:
        raise AssertionError("not restored here")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    require(os.geteuid() == 0, "network namespaces and nftables need root")
    for tool in ("ip", "nft", "setpriv"):
        require_tool(tool)
    require(os.access(PROBE_PYTHON, os.X_OK), f"{PROBE_PYTHON} is missing")
    dnsmasq = require_tool("dnsmasq")
    tag = f"{os.getpid() % 100000}"
    n = Net(f"ka17c{tag}", f"ka17s{tag}", tmp_path)
    procs: list[subprocess.Popen[bytes]] = []
    made: list[str] = []
    try:
        for ns in (n.client, n.server):
            _run(["ip", "netns", "add", ns])
            made.append(ns)
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        vc, vs = f"kc{tag}", f"ks{tag}"
        _run(
            [
                "ip",
                "link",
                "add",
                vc,
                "netns",
                n.client,
                "type",
                "veth",
                "peer",
                vs,
                "netns",
                n.server,
            ]
        )
        _run(["ip", "-n", n.client, "addr", "add", "192.0.2.1/24", "dev", vc])
        for addr in (RESOLVER, DOH, OTHER):
            _run(["ip", "-n", n.server, "addr", "add", f"{addr}/24", "dev", vs])
        _run(["ip", "-n", n.client, "link", "set", vc, "up"])
        _run(["ip", "-n", n.server, "link", "set", vs, "up"])
        conf = tmp_path / "dnsmasq.conf"
        conf.write_text(
            f"no-resolv\nno-hosts\nlisten-address={RESOLVER}\nbind-interfaces\n"
            "host-record=ready.test,192.0.2.80\nlocal-ttl=60\n"
        )
        procs.append(
            subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    n.server,
                    dnsmasq,
                    f"--conf-file={conf}",
                    "--keep-in-foreground",
                    "--user=root",
                    f"--pid-file={tmp_path / 'dm.pid'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        tls = make_tls_files(tmp_path / "tls", ["doh.test"])
        procs.append(
            subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    n.server,
                    sys.executable,
                    "-c",
                    TLS_SERVER,
                    str(tls.cert_pem),
                    str(tls.key_pem),
                    f"{DOH}:853",
                    f"{DOH}:443",
                    f"{OTHER}:443",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        )
        assert procs[-1].stdout is not None and procs[-1].stdout.readline() == b"listening\n"
        deadline = time.monotonic() + 10
        while n.probe("udp", RESOLVER, 53) != "ok":
            assert time.monotonic() < deadline, "the stand-in resolver did not answer"
            time.sleep(0.1)
        yield n
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
        for ns in made:  # removes the veth pair and the rules with it
            _run(["ip", "netns", "del", ns], check=False)


def _rule_handle(net: Net, comment: str) -> int:
    listed = json.loads(
        _run(net.in_client("nft", "-j", "list", "table", "inet", "kiosk_agent")).stdout
    )
    for item in listed["nftables"]:
        rule = item.get("rule")
        if rule and rule.get("comment") == comment:
            return int(rule["handle"])
    raise AssertionError(f"no rule {comment}")


def test_outbound_dns_only_through_the_agent(net: Net) -> None:
    # Before: every way out works, for anyone.
    for kind, host, port in (("tcp", RESOLVER, 53), ("tls", DOH, 853), ("tls", DOH, 443)):
        assert net.probe(kind, host, port) == "ok", (kind, host, port)

    plat = NetnsPlatform(net)
    plat.install_dns_guard(DOH_LIST)
    assert plat.read_dns_guard() == GuardState(True, {"dns": 0, "dot": 0, "doh": 0})

    # An ordinary user, and root without the agent's mark: refused, every kind.
    for user in ("nobody", "root"):
        assert net.probe("udp", RESOLVER, 53, user=user) in REFUSED, user
        assert net.probe("tcp", RESOLVER, 53, user=user) in REFUSED, user
        assert net.probe("tls", DOH, 853, user=user) in REFUSED, user
        assert net.probe("tls", DOH, 443, user=user) in REFUSED, user
    assert net.probe("udp", DOH, 853) in REFUSED  # DoQ
    # HTTPS to an address not on the DoH list, and loopback: untouched.
    assert net.probe("tls", OTHER, 443) == "ok"
    assert net.probe("udp", "127.0.0.1", 53) == "refused"  # loopback: ICMP, not our reject
    state = plat.read_dns_guard()
    assert state.intact and state.counters["dns"] >= 4 and state.counters["dot"] >= 2
    assert state.counters["doh"] >= 2

    # The agent's own upstream queries (marked sockets, UDP and TCP) still get answers.
    assert net.agent_query() == "192.0.2.80 192.0.2.80"

    # The watchdog counts the attempts (once per kind) and restores a deleted rule.
    config = Config(
        state_dir=net.tmp / "state",
        filter=FilterConfig(listen=(HostPort("127.0.0.1", 53),), manage_system_dns=True),
    )
    (net.tmp / "state").mkdir()
    (net.tmp / "state" / "doh_addresses.txt").write_text(f"{DOH}\n")
    ctx = ServiceContext(config)
    events: list[Event] = []
    ctx.bus.subscribe(events.append)

    async def watchdog() -> None:
        dog = DnsWatchdog(ctx, plat)
        await dog.start()  # installs the rules afresh: counters from 0
        try:
            assert net.probe("udp", RESOLVER, 53) in REFUSED
            assert net.probe("tls", DOH, 443) in REFUSED
            assert await dog.check_guard()
            assert await dog.check_guard()  # nothing new
            _run(
                net.in_client(
                    "nft",
                    "delete",
                    "rule",
                    "inet",
                    "kiosk_agent",
                    "output",
                    "handle",
                    str(_rule_handle(net, "kiosk-agent:dns-udp")),
                )
            )
            assert net.probe("udp", RESOLVER, 53) == "ok"  # the way is open ...
            assert not await dog.check_guard()  # ... until the watchdog's next check
            assert net.probe("udp", RESOLVER, 53) in REFUSED
            assert dog.guard_restored == 1 and plat.read_dns_guard().intact
        finally:
            await dog.stop()

    asyncio.run(watchdog())
    tamper = [e for e in events if isinstance(e, TamperDetected)]
    assert tamper == [TamperDetected("dns_bypass")] * 2 + [TamperDetected("dns_firewall")]

    # Uninstall removes every rule: the namespace's ruleset is empty again.
    plat.remove_dns_guard()
    assert _run(net.in_client("nft", "list", "ruleset")).stdout.strip() == ""
    assert net.probe("udp", RESOLVER, 53) == "ok"
    assert net.probe("tls", DOH, 443) == "ok"
    plat.remove_dns_guard()  # twice is fine
