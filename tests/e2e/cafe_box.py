"""The café in a box: network namespaces for a café LAN, its hub, kiosks, a shaped uplink
and a region running the real ``kiosk-server`` over TLS (made and removed by the test).

Topology (documentation addresses only)::

    k1..kN, hub, rogue  --eth0-- [bridge in "up", 192.0.2.1/24]  "up"  --uplink--  "region"
      192.0.2.11.., .10, .99                                198.51.100.1      198.51.100.2

``up`` routes between the LAN and the region over a TUN device at each end and a packet
relay between them (``wan_relay``: 150 ms each way, 1 % of packets dropped each way;
this kernel has no netem); each end is shaped with ``tc`` tbf to 1 Mbit/s. Byte
counters (IP bytes) are read on ``up0`` in ``up``; TCP connections to the region are
counted by an nft rule there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent.contracts import feed, manifest
from kiosk_agent.filter.urls import hash_int
from kiosk_agent.service.pin import hash_pin
from tests.filter.feed_helpers import CATS, keypair, random_hashes
from tests.tls_certs import make_tls_files

REPO = Path(__file__).resolve().parents[2]
PIN = "2468"
REGION_IP = "198.51.100.2"
SERVER = f"https://{REGION_IP}:8443"
REPORTS = f"https://{REGION_IP}:8444"
"""The same regional server (same database) on a second port for reports, so that the
uplink's report bytes and connections are counted apart from the feed downloads."""
HUB_IP = "192.0.2.10"
ROGUE_IP = "192.0.2.99"
BLOCKED = "blocked-demo.test"
FULL_ENTRIES = 50_000  # ≈ 400 KB: the handshakes do not hide the bundle's bytes
DELTA_ENTRIES = 2_000


def entries(version: int) -> feed.FeedEntries:
    """Version ``version`` of the test list: a fixed core, a slice that changes, and the
    blocked test name (generated hashes only: no real entry)."""
    base = set(random_hashes(FULL_ENTRIES, seed=1))
    base |= set(random_hashes(DELTA_ENTRIES * version, seed=100 + version)[:DELTA_ENTRIES])
    base.add(hash_int(BLOCKED + "/"))
    return feed.FeedEntries(CATS[:1], {CATS[0].code: array("Q", sorted(base))})


@dataclass
class Publisher:
    """The hotline's side: signs versions of one list into the region's feed folder."""

    folder: Path
    list_id: str
    key: Ed25519PrivateKey
    pub: str
    version: int = 0

    def publish(self) -> int:
        now = int(time.time())
        new = self.version + 1
        common: dict[str, Any] = {
            "key": self.key,
            "issuer": "TEST hotline",
            "list_id": self.list_id,
            "version": new,
            "created": now - 60,
            "expires": now + 30 * 86400,
        }
        bundles = [feed.encode_full(entries(new), **common)]
        # Deltas from the last three versions, as a publisher keeps recent bases.
        for base in range(max(1, new - 3), new):
            bundles.append(
                feed.encode_delta(entries(base), entries(new), base_version=base, **common)
            )
        manifest.publish(self.folder / self.list_id, bundles)
        self.version = new
        return new


@dataclass
class Node:
    name: str
    ns: str
    ip: str
    state: Path
    config: Path
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None


@dataclass
class Box:
    tmp: Path
    kiosks: int = 5
    delay: float = 0.15
    """Seconds added each way by the uplink relay (a 300 ms round trip)."""
    loss: float = 0.01
    """Probability that the uplink relay drops a packet (each way)."""
    rate: str = "1mbit"
    prefix: str = field(default_factory=lambda: f"kb{os.getpid() % 100000}")
    namespaces: list[str] = field(default_factory=list)
    procs: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = field(default_factory=list)

    # -- commands ----------------------------------------------------------------------

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
        return r.stdout

    def nsx(self, role: str, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role), *args]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO)
        env["PYTHONUNBUFFERED"] = "1"
        env["KIOSK_SERVER_DATA"] = str(self.tmp / "region")
        env.pop("KIOSK_SERVER_DB", None)
        env.pop("KIOSK_AGENT_NO_MDNS", None)  # mDNS stays inside the namespaces
        return env

    def py(self, role: str, *args: str, timeout: float = 60, check: bool = True) -> str:
        r = subprocess.run(
            self.nsx(role, sys.executable, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            cwd=REPO,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"{role}: {' '.join(args)}: {r.stderr.strip()[-800:]}")
        return r.stdout

    def spawn(self, role: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            self.nsx(role, sys.executable, *args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            cwd=REPO,
        )
        self.procs.append((proc, log))
        return proc

    # -- the network -------------------------------------------------------------------

    def lan_roles(self) -> list[str]:
        return ["hub", "rogue", *(f"k{i}" for i in range(1, self.kiosks + 1))]

    def lan_ip(self, role: str) -> str:
        if role == "hub":
            return HUB_IP
        if role == "rogue":
            return ROGUE_IP
        return f"192.0.2.{10 + int(role[1:])}"

    def build(self) -> None:
        (self.tmp / "logs").mkdir(parents=True, exist_ok=True)
        p = self.prefix
        for role in ["up", "region", *self.lan_roles()]:
            self.run("ip", "netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
            self.run("ip", "-n", self.ns(role), "link", "set", "lo", "up")
        up = self.ns("up")
        self.run("ip", "-n", up, "link", "add", "br0", "type", "bridge")
        self.run("ip", "-n", up, "addr", "add", "192.0.2.1/24", "dev", "br0")
        self.run("ip", "-n", up, "link", "set", "br0", "up")
        for i, role in enumerate(self.lan_roles()):
            a, b = f"{p}a{i}", f"{p}b{i}"
            self.run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            self.run("ip", "link", "set", a, "netns", up)
            self.run("ip", "link", "set", b, "netns", self.ns(role))
            self.run("ip", "-n", up, "link", "set", a, "master", "br0", "up")
            n = self.ns(role)
            self.run("ip", "-n", n, "link", "set", b, "name", "eth0")
            self.run("ip", "-n", n, "addr", "add", f"{self.lan_ip(role)}/24", "dev", "eth0")
            self.run("ip", "-n", n, "link", "set", "eth0", "up")
            self.run("ip", "-n", n, "route", "add", "default", "via", "192.0.2.1")
        # The uplink: a TUN device at each end ("up0" in up, "rg0" in region) and the
        # packet relay between them adding the delay and the loss (tests/e2e/wan_relay.py);
        # tbf on each device shapes the rate of what it sends.
        self.uplink = "up0"
        region = self.ns("region")
        for role, dev in (("up", "up0"), ("region", "rg0")):
            self.run("ip", "-n", self.ns(role), "tuntap", "add", "dev", dev, "mode", "tun")
        relay_log = (self.tmp / "logs" / "wan-relay.log").open("ab")
        relay = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.e2e.wan_relay",
                f"{up}:up0",
                f"{region}:rg0",
                "--delay",
                str(self.delay),
                "--loss",
                str(self.loss),
            ],
            stdout=relay_log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            cwd=REPO,
        )
        self.procs.append((relay, relay_log))
        wait_for(
            lambda: (
                b"ready" in (self.tmp / "logs" / "wan-relay.log").read_bytes()
                or relay.poll() is not None
            ),
            20,
            "the uplink relay did not start",
        )
        if relay.poll() is not None:
            raise RuntimeError("the uplink relay failed: see logs/wan-relay.log")
        self.run("ip", "-n", up, "addr", "add", "198.51.100.1/24", "dev", "up0")
        self.run("ip", "-n", up, "link", "set", "up0", "up")
        self.run("ip", "-n", region, "addr", "add", f"{REGION_IP}/24", "dev", "rg0")
        self.run("ip", "-n", region, "link", "set", "rg0", "up")
        self.run("ip", "-n", region, "route", "add", "192.0.2.0/24", "dev", "rg0")
        self.run(*self.nsx("up", "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        for role, dev in (("up", "up0"), ("region", "rg0")):
            self.run(
                *self.nsx(
                    role,
                    "tc",
                    "qdisc",
                    "add",
                    "dev",
                    dev,
                    "root",
                    "tbf",
                    "rate",
                    self.rate,
                    "burst",
                    "32kbit",
                    "latency",
                    "400ms",
                )
            )
        # Count the TCP connections the café opens to the region: each opening SYN adds
        # its (source address, source port) to a set, so a SYN sent again after a loss
        # (same port) is one connection; the SYN counter beside it counts packets.
        for rule in (
            "add table inet cafe",
            "add set inet cafe conns { type ipv4_addr . inet_service; flags dynamic; size 65535; }",
            "add chain inet cafe forward { type filter hook forward priority 0; }",
            f"add rule inet cafe forward ip daddr {REGION_IP} tcp dport 8444 "
            "tcp flags & (syn|ack) == syn counter add @conns { ip saddr . tcp sport }",
            f"add rule inet cafe forward ip daddr {REGION_IP} tcp dport 8444 counter",
            f"add rule inet cafe forward ip saddr {REGION_IP} tcp sport 8444 counter",
        ):
            self.run(*self.nsx("up", "nft", rule))

    def uplink_bytes(self) -> int:
        out = self.run("ip", "-n", self.ns("up"), "-s", "-j", "link", "show", "dev", self.uplink)
        stats = json.loads(out)[0]["stats64"]
        return int(stats["rx"]["bytes"]) + int(stats["tx"]["bytes"])

    def _counters(self) -> list[dict[str, int]]:
        out = self.run(*self.nsx("up", "nft", "-j", "list", "table", "inet", "cafe"))
        found = []
        for item in json.loads(out)["nftables"]:
            for expr in (item.get("rule") or {}).get("expr", []):
                if "counter" in expr:
                    found.append(expr["counter"])
        return found

    def forget_connections(self) -> None:
        """Empty the set of report connections (before a step that counts them)."""
        self.run(*self.nsx("up", "nft", "flush", "set", "inet", "cafe", "conns"))

    def connections(self) -> int:
        """TCP connections opened to the regional server's report port since
        ``forget_connections``: distinct (address, port) pairs of opening SYNs."""
        out = self.run(*self.nsx("up", "nft", "-j", "list", "set", "inet", "cafe", "conns"))
        for item in json.loads(out)["nftables"]:
            if "set" in item:
                return len(item["set"].get("elem", []))
        raise RuntimeError("no set conns in the nft table")

    def syn_packets(self) -> int:
        """Opening SYN packets to the report port (retransmitted ones included)."""
        return int(self._counters()[0]["packets"])

    def report_bytes(self) -> int:
        """Bytes (IP packets, both ways) of the report connections on the uplink."""
        return sum(int(c["bytes"]) for c in self._counters()[1:3])

    # -- the region --------------------------------------------------------------------

    def start_region(self, uses: int = 20) -> str:
        data = self.tmp / "region"
        data.mkdir(parents=True, exist_ok=True)
        server = [sys.executable, "-m", "regional_server"]
        env = self.env()
        for args in (
            ["init-db"],
            ["create-region", "KE-NBO", "Nairobi (TEST)", "--country", "KE"],
        ):
            subprocess.run([*server, *args], check=True, env=env, capture_output=True, cwd=REPO)
        out = subprocess.run(
            [
                *server,
                "create-enrollment-code",
                "--region",
                "KE-NBO",
                "--expires",
                "1d",
                "--uses",
                str(uses),
            ],
            check=True,
            env=env,
            capture_output=True,
            text=True,
            cwd=REPO,
        ).stdout
        code = out.strip().splitlines()[-1].strip()
        self.tls = make_tls_files(self.tmp / "tls", [REGION_IP])
        # The production path: ``kiosk-server serve`` with its own TLS (no session
        # tickets by default, regional_server/tls.py), once per port, one database.
        for port, name in (("8443", "region"), ("8444", "region-reports")):
            self.spawn(
                "region",
                name,
                "-m",
                "regional_server",
                "serve",
                "--host",
                REGION_IP,
                "--port",
                port,
                "--tls-cert",
                str(self.tls.cert_pem),
                "--tls-key",
                str(self.tls.key_pem),
            )
        wait_for(self._port_open, 60, "the regional server did not start")
        self.key, self.pub = keypair()
        return code

    def _port_open(self) -> bool:
        probe = (
            "import socket\n"
            f"for port in (8443, 8444): socket.create_connection(('{REGION_IP}', port), 1).close()"
        )
        r = subprocess.run(self.nsx("region", sys.executable, "-c", probe), capture_output=True)
        return r.returncode == 0

    def publisher(self, list_id: str) -> Publisher:
        return Publisher(self.tmp / "region" / "feeds", list_id, self.key, self.pub)

    def server_reports(self) -> dict[str, dict[str, int]]:
        """report_id -> counts, as the regional server stored them."""
        db = sqlite3.connect(self.tmp / "region" / "server.db")
        try:
            rows = db.execute("SELECT report_id, counts FROM reports").fetchall()
        finally:
            db.close()
        return {rid: json.loads(counts) for rid, counts in rows}

    # -- agents ------------------------------------------------------------------------

    def node(self, role: str, run: str, list_id: str, hub: str) -> Node:
        state = self.tmp / run / role
        state.mkdir(parents=True, exist_ok=True)
        config = {
            "state_dir": str(state),
            "cafe": {"hub": hub, "hub_listen": "0.0.0.0:8055", "languages": ["en"]},
            "operator": {"pin_scrypt": hash_pin(PIN, n=2**4)},
            "filter": {
                "listen": ["127.0.0.1:53"],
                "upstreams": [f"{REGION_IP}:53"],
                "feeds": [{"url": f"{SERVER}/feeds/{list_id}", "trust": [self.pub]}],
                "update_every": "60s",
            },
            "reporting": {
                "server": REPORTS,
                "ca_bundle": str(self.tls.ca_pem),
                # The hub gathers a quarter of this (10 s); kiosks' own rounds stay out of
                # the test's measurements.
                "upload_every": "40s" if hub == "this" else "1h",
            },
        }
        path = state / "agent.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return Node(role, self.ns(role), self.lan_ip(role), state, path)

    def enroll(self, node: Node, code: str) -> None:
        self.py(
            node.name,
            "-m",
            "kiosk_agent",
            "enroll",
            "--server",
            SERVER,
            "--code",
            code,
            "--config",
            str(node.config),
        )

    def start(self, node: Node) -> None:
        node.proc = self.spawn(
            node.name,
            f"{node.name}-{node.state.parent.name}",
            "-m",
            "kiosk_agent",
            "service",
            "--config",
            str(node.config),
        )

    def stop(self, node: Node, sig: int = signal.SIGTERM) -> None:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(30)
            if node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait(10)

    def version(self, node: Node) -> int | None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads((node.state / "feeds.json").read_text())
            version = next(iter(data["feeds"].values())).get("version")
            return version if isinstance(version, int) else None
        return None

    def feed_state(self, node: Node) -> dict[str, Any]:
        data = json.loads((node.state / "feeds.json").read_text())
        return dict(next(iter(data["feeds"].values())))

    def control(self, node: Node, call: str) -> Any:
        script = (
            "import json, sys\n"
            "from kiosk_agent.config import load_config\n"
            "from kiosk_agent.service.control_client import ControlClient\n"
            f"c = ControlClient.from_config(load_config({str(node.config)!r}))\n"
            f"print(json.dumps(c.{call}))\n"
        )
        return json.loads(self.py(node.name, "-c", script))

    def update_now(self, nodes: list[Node]) -> None:
        procs = [
            subprocess.Popen(
                self.nsx(
                    n.name,
                    sys.executable,
                    "-c",
                    "from kiosk_agent.config import load_config\n"
                    "from kiosk_agent.service.control_client import ControlClient\n"
                    f"ControlClient.from_config(load_config({str(n.config)!r}))"
                    f".update_now({PIN!r})",
                ),
                env=self.env(),
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for n in nodes
        ]
        for proc in procs:
            proc.wait(30)

    def blocked(self, node: Node, name: str) -> bool:
        script = (
            "from kiosk_agent.config import HostPort\n"
            "from kiosk_agent.net.dns_probe import resolve\n"
            f"r = resolve(HostPort('127.0.0.1', 53), {name!r})\n"
            "print('none' if r is None else r[0])\n"
        )
        return self.py(node.name, "-c", script).strip() == "3"  # NXDOMAIN: the block answer

    def upload_now(self, nodes: list[Node]) -> list[str]:
        procs = [
            subprocess.Popen(
                self.nsx(
                    n.name,
                    sys.executable,
                    "-m",
                    "kiosk_agent",
                    "report",
                    "upload",
                    "--now",
                    "--config",
                    str(n.config),
                ),
                env=self.env(),
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for n in nodes
        ]
        return [p.communicate(timeout=120)[0] for p in procs]

    # -- teardown ----------------------------------------------------------------------

    def close(self) -> None:
        for proc, log in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            log.close()
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def wait_for(check: Any, timeout: float, what: str, every: float = 0.5) -> float:
    """Seconds until ``check()`` was true; AssertionError with ``what`` after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(what)
        time.sleep(every)
    return time.monotonic() - start


def outbox_counts(node: Node) -> dict[str, tuple[int, int]]:
    """Lifetime (flushed, acknowledged) per counter, from the kiosk's outbox."""
    db = sqlite3.connect(node.state / "outbox.sqlite3")
    try:
        rows = db.execute("SELECT name, flushed, acknowledged FROM totals").fetchall()
    finally:
        db.close()
    return {name: (int(f), int(a)) for name, f, a in rows}


def day_count(node: Node, name: str) -> int:
    db = sqlite3.connect(node.state / "outbox.sqlite3")
    try:
        row = db.execute("SELECT SUM(count) FROM daily WHERE name = ?", (name,)).fetchone()
    finally:
        db.close()
    return int(row[0] or 0)


@contextlib.contextmanager
def cafe_box(tmp: Path, kiosks: int = 5, delay: float = 0.15, loss: float = 0.01) -> Iterator[Box]:
    box = Box(tmp, kiosks, delay, loss)
    try:
        box.build()
        yield box
    finally:
        box.close()


def have_tools() -> bool:
    return all(shutil.which(t) or os.path.exists(f"/usr/sbin/{t}") for t in ("ip", "tc", "nft"))
