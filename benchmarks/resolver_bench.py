"""The local resolver against dnsmasq, side by side in one run, with the same 1M-name list.

`python -m benchmarks.resolver_bench [--names 1000000] [--seconds 10]`

- the list: ``n0.blocked.test`` ... (reserved names only); the agent gets it as a signed
  bundle applied to an index in its state folder, dnsmasq as a hosts file
  (``0.0.0.0 name``); both forward everything else to a third process, an upstream
  dnsmasq with local ``address=`` records on loopback (nothing leaves the machine);
- ready after: from process start to the first answer for a listed name;
- blocked and cached answers per second: dnsperf (default concurrency: one client, 100
  queries in flight), servers pinned to CPU 0 and dnsperf to CPU 1 with ``taskset``;
- added latency: unique names at 200 queries/s, each one a cache miss, asked directly of
  the upstream and through each server; p50 / p99 of each, and the difference;
- RSS of each server process after the runs (psutil);
- ``--tree PATH`` (repeatable): also the service of another source tree (a checkout of
  this repository, e.g. the code before a change), side by side in the same run, for
  blocked, cached, safe-search names and forwarded latency (issue 17);
- safe search: ``www.google.com`` asked again and again (the SafeSearch link's CNAME
  plus the cached target; a tree without SafeSearch answers it from its cache).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kiosk_agent.net.ports import free_port

REPO = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None
    )
    if path is None:
        raise SystemExit(f"{name} is not installed (scripts/test-deps.sh installs it)")
    return path


def query(name: str, qid: int) -> bytes:
    wire = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + b"\x00\x01\x00\x01"


def ask(port: int, name: str, timeout: float = 0.2) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        qid = random.randrange(65536)
        try:
            s.sendto(query(name, qid), ("127.0.0.1", port))
            while True:
                data = s.recv(65535)
                if data[:2] == struct.pack("!H", qid):
                    return data
        except OSError:
            return None


def blocked_answer(data: bytes | None) -> bool:
    """NXDOMAIN (the agent) or an answer of 0.0.0.0 (dnsmasq's hosts file)."""
    if data is None or len(data) < 12:
        return False
    return data[3] & 0xF == 3 or (data[7] > 0 and data.endswith(b"\x00\x00\x00\x00"))


def wait_ready(port: int, name: str, start: float, limit: float = 120) -> float:
    # A short wait per try: an answer to an earlier try goes to that try's closed socket,
    # so the wait is the granularity of the measurement (it was 50 ms, now 10 ms).
    while time.monotonic() - start < limit:
        if blocked_answer(ask(port, name, timeout=0.01)):
            return time.monotonic() - start
        time.sleep(0.002)
    raise RuntimeError(f"no blocked answer on port {port} after {limit} s")


def signed_bundle(names: Iterable[str]) -> tuple[bytes, str]:
    """A full bundle of ``names`` (one category), signed with a fresh key; its trust key."""
    sys.path.insert(0, str(REPO))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kiosk_agent.contracts import feed
    from kiosk_agent.filter.sources import entries_from_sources, read_source

    category = feed.Category(1, "csam", "Benchmark category")
    entries = entries_from_sources([category], {"csam": read_source(names)})
    key = Ed25519PrivateKey.generate()
    pub = feed.public_key_string(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    now = int(time.time())
    data = feed.encode_full(
        entries,
        key=key,
        issuer="Benchmark (not a real list)",
        list_id="bench",
        version=1,
        created=now,
        expires=now + 86400,
    )
    return data, pub


def build_list(tmp: Path, n: int) -> tuple[Path, Path]:
    """The agent's state folder with the index of ``n`` names, and dnsmasq's hosts file."""
    from kiosk_agent.contracts import feed
    from kiosk_agent.filter import index

    names = [f"n{i}.blocked.test" for i in range(n)]
    t = time.monotonic()
    data, pub = signed_bundle(names)
    state = tmp / "state"
    index.apply_bundle(index.index_path(state, "bench"), feed.read_bundle(data, [pub]))
    hosts = tmp / "hosts"
    with hosts.open("w") as f:
        for name in names:
            f.write(f"0.0.0.0 {name}\n")
    print(f"built the {n:,}-name list in {time.monotonic() - t:.1f} s", file=sys.stderr)
    return state, hosts


def start_dnsmasq(tmp: Path, tag: str, port: int, lines: Sequence[str]) -> subprocess.Popen[bytes]:
    conf = tmp / f"{tag}.conf"
    conf.write_text(
        "\n".join(
            [
                "no-resolv",
                "no-hosts",
                f"port={port}",
                "listen-address=127.0.0.1",
                "bind-interfaces",
                *lines,
            ]
        )
        + "\n"
    )
    argv = [
        "taskset",
        "-c",
        "0",
        tool("dnsmasq"),
        f"--conf-file={conf}",
        "--keep-in-foreground",
        f"--pid-file={tmp / (tag + '.pid')}",
    ]
    if os.geteuid() == 0:
        argv.append("--user=root")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_agent(
    tmp: Path, state: Path, port: int, upstream: int, tree: Path = REPO, name: str = "agent"
) -> subprocess.Popen[bytes]:
    """``kiosk-agent service`` of the source ``tree`` pinned to CPU 0, its config
    ``tmp/NAME.yaml``: the benchmark's listen port, upstream and a 10,000-entry cache."""
    config = tmp / f"{name}.yaml"
    config.write_text(
        f"""state_dir: {state}
filter:
  listen: ["127.0.0.1:{port}"]
  upstreams: ["127.0.0.1:{upstream}"]
  cache: {{max_entries: 10000}}
control:
  listen: "127.0.0.1:{free_port()}"
"""
    )
    env = dict(os.environ, PYTHONPATH=str(tree))
    argv = ["taskset", "-c", "0", sys.executable, "-m", "kiosk_agent", "service", "--config"]
    return subprocess.Popen(
        [*argv, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )


# Calibration: the least a Python responder can do per packet (read with recvfrom_into,
# flip the header to an NXDOMAIN answer, send). Its rate in the same run shows how much
# CPU the shared machine left to any Python server at that moment.
BARE_RESPONDER = """
import asyncio, socket, sys
async def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.setblocking(False)
    buf = bytearray(65535)
    view = memoryview(buf)
    def readable():
        for _ in range(64):
            try:
                n, addr = s.recvfrom_into(buf)
            except BlockingIOError:
                return
            d = bytes(view[:n])
            s.sendto(d[:2] + b"\\x81\\x83" + d[4:], addr)
    asyncio.get_running_loop().add_reader(s.fileno(), readable)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def start_bare(port: int) -> subprocess.Popen[bytes]:
    argv = ["taskset", "-c", "0", sys.executable, "-c", BARE_RESPONDER, str(port)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_all(procs: Sequence[subprocess.Popen[bytes]], wait: float = 15) -> None:
    """Stop the processes one after another, in the order given: SIGTERM to each one
    still running and wait for it to end (a kill after ``wait`` seconds) before the next,
    so a process can still reach the ones stopped after it while it shuts down."""
    for proc in procs:
        if proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    # taskset execs the server in place, so the pid is the server's own
    return float(proc.memory_info().rss) / 1e6


def dnsperf(port: int, datafile: Path, seconds: float, pid: int | None = None) -> dict[str, float]:
    """One dnsperf run; with ``pid``, also the server's CPU time per answered query and
    the rate one whole core would sustain at that cost (the machine is shared, so the
    server gets only part of CPU 0: this is the figure to compare with an idle machine)."""
    import psutil

    before = psutil.Process(pid).cpu_times() if pid is not None else None
    out = subprocess.run(
        [
            *("taskset", "-c", "1", tool("dnsperf"), "-s", "127.0.0.1", "-p", str(port)),
            *("-d", str(datafile), "-l", str(seconds)),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    latency = re.search(r"Average Latency \(s\):\s+([\d.]+)", out)
    result = {
        "qps": round(qps),
        "lost": int(lost.group(1)) if lost else -1,
        "avg_latency_ms": round(float(latency.group(1)) * 1000, 3) if latency else -1,
    }
    completed = re.search(r"Queries completed:\s+(\d+)", out)
    if before is not None and pid is not None and completed and int(completed.group(1)):
        after = psutil.Process(pid).cpu_times()
        cpu = (after.user - before.user) + (after.system - before.system)
        per_query = cpu / int(completed.group(1))
        result["cpu_us_per_query"] = round(per_query * 1e6, 1)
        result["one_core_qps"] = round(1 / per_query) if per_query > 0 else -1
    return result


def latencies(port: int, names: Sequence[str], rate: float) -> list[float]:
    """Milliseconds per query, one query every 1/rate s (lost queries count as 2000 ms)."""
    out: list[float] = []
    gap = 1.0 / rate
    next_at = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for i, name in enumerate(names):
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += gap
            qid = i & 0xFFFF
            start = time.perf_counter()
            s.sendto(query(name, qid), ("127.0.0.1", port))
            try:
                while s.recv(65535)[:2] != struct.pack("!H", qid):
                    pass
                out.append((time.perf_counter() - start) * 1000)
            except OSError:
                out.append(2000.0)
    return out


def pct(values: Sequence[float], p: float) -> float:
    return round(statistics.quantiles(values, n=1000)[int(p * 10) - 1], 3)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--names", type=int, default=1_000_000, help="list size (1M)")
    parser.add_argument("--seconds", type=float, default=10, help="each dnsperf run (10)")
    parser.add_argument("--latency-queries", type=int, default=2000, help="per target (2000)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--tree",
        action="append",
        type=Path,
        default=[],
        help="also run the service of this source tree, side by side (repeatable)",
    )
    args = parser.parse_args(argv)
    tool("dnsperf")
    tool("taskset")
    results: dict[str, Any] = {"names": args.names, "cpus": os.cpu_count()}
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="resolver-bench-") as tmpname:
        tmp = Path(tmpname)
        try:
            state, hosts = build_list(tmp, args.names)
            rng = random.Random(7)
            blocked_file = tmp / "blocked.txt"
            blocked_file.write_text(
                "".join(f"n{rng.randrange(args.names)}.blocked.test A\n" for _ in range(100_000))
            )
            cached_names = [f"c{i}.cached.test" for i in range(1000)]
            cached_file = tmp / "cached.txt"
            cached_file.write_text("".join(f"{n} A\n" for n in cached_names))
            safe_file = tmp / "safe.txt"
            safe_file.write_text("www.google.com A\n" * 1000)

            up_port, agent_port, dm_port = free_port(), free_port(), free_port()
            upstream = start_dnsmasq(
                tmp,
                "upstream",
                up_port,
                [
                    "address=/cached.test/192.0.2.2",
                    "address=/fwd.test/192.0.2.1",
                    "address=/forcesafesearch.google.com/192.0.2.120",
                    "address=/www.google.com/198.51.100.2",
                    "cache-size=0",
                    "local-ttl=300",  # dnsmasq gives its own records TTL 0 by default
                ],
            )
            procs.append(upstream)
            time.sleep(0.3)

            start = time.monotonic()
            agent = start_agent(tmp, state, agent_port, up_port)
            procs.append(agent)
            agent_ready = wait_ready(agent_port, "n0.blocked.test", start)
            # Other source trees: each its own copy of the state folder, started after
            # the timed start above so "ready after" stays this tree's figure.
            others: list[tuple[str, subprocess.Popen[bytes], int]] = []
            for k, tree in enumerate(args.tree):
                own = tmp / f"state-tree{k}"
                shutil.copytree(state, own)
                port = free_port()
                proc = start_agent(tmp, own, port, up_port, tree=tree.resolve(), name=f"tree{k}")
                procs.append(proc)
                wait_ready(port, "n0.blocked.test", time.monotonic())
                others.append((f"agent@{tree}", proc, port))
            start = time.monotonic()
            dnsmasq = start_dnsmasq(
                tmp,
                "dnsmasq",
                dm_port,
                [f"addn-hosts={hosts}", f"server=127.0.0.1#{up_port}", "cache-size=10000"],
            )
            procs.append(dnsmasq)
            dm_ready = wait_ready(dm_port, "n0.blocked.test", start)
            results["ready_s"] = {"agent": round(agent_ready, 3), "dnsmasq": round(dm_ready, 3)}
            results["rss_mb_after_start"] = {
                "agent": round(rss_mb(agent.pid), 1),
                "dnsmasq": round(rss_mb(dnsmasq.pid), 1),
            }

            servers = [("agent", agent, agent_port), *others, ("dnsmasq", dnsmasq, dm_port)]
            for _label, _proc, port in servers:
                for name in [*cached_names, "www.google.com"]:  # warm the caches
                    ask(port, name)
            results["blocked"] = {}
            results["cached"] = {}
            results["safe_search_name"] = {}
            for label, proc, port in servers:
                results["blocked"][label] = dnsperf(port, blocked_file, args.seconds, proc.pid)
                results["cached"][label] = dnsperf(port, cached_file, args.seconds, proc.pid)
                results["safe_search_name"][label] = dnsperf(
                    port, safe_file, args.seconds, proc.pid
                )
            bare_port = free_port()
            bare = start_bare(bare_port)
            procs.append(bare)
            wait_ready(bare_port, "n0.blocked.test", time.monotonic())
            results["blocked"]["bare_python_responder"] = dnsperf(
                bare_port, blocked_file, args.seconds, bare.pid
            )
            for kind in ("blocked", "cached"):
                r = results[kind]
                r["ratio_agent_to_dnsmasq"] = round(r["agent"]["qps"] / r["dnsmasq"]["qps"], 2)

            lat: dict[str, Any] = {}
            n = args.latency_queries
            targets = [("direct", up_port), *((label, port) for label, _p, port in servers)]
            for k, (label, port) in enumerate(targets):
                ms = latencies(port, [f"u{i}.t{k}.fwd.test" for i in range(n)], 200)
                lat[label] = {"p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99)}
            for label, _port in targets[1:]:
                lat[label]["added_p50_ms"] = round(
                    lat[label]["p50_ms"] - lat["direct"]["p50_ms"], 3
                )
                lat[label]["added_p99_ms"] = round(
                    lat[label]["p99_ms"] - lat["direct"]["p99_ms"], 3
                )
            results["latency_200qps_forwarded"] = lat
            results["rss_mb_after_runs"] = {
                label: round(rss_mb(proc.pid), 1) for label, proc, _port in servers
            }
        finally:
            stop_all(procs)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
