"""Added latency of forwarded queries, A/B: several source trees side by side in one run.

Each tree's service runs pinned to CPU 0 (as in ``resolver_bench``) with the same list,
the same config and the same upstream (dnsmasq on loopback). Queries for fresh names (so
every one is forwarded) go in turn to the upstream directly and to each service, each
target at 200 queries/s, so all see the same machine at the same moments: slow drifts
of a noisy VM hit every tree alike. It does not make a cold CPU's cost the same from run
to run: repeat it (docs/BENCHMARKS.md, issue 3, "Forwarded path").

Usage: ``python -m benchmarks.resolver_ab TREE [TREE ...]`` where a tree is a checkout
of this repository (``git worktree add --detach /tmp/base HEAD~1``), e.g. ``. /tmp/base``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.resolver_bench import (
    ask,
    build_list,
    pct,
    query,
    start_agent,
    start_dnsmasq,
    stop_all,
    tool,
)
from kiosk_agent.net.ports import free_port

RATE = 200.0  # queries/s to each target


def start_service(
    tree: Path, tmp: Path, state: Path, tag: str, upstream: int
) -> tuple[subprocess.Popen[bytes], int]:
    own_state = tmp / f"state-{tag}"
    shutil.copytree(state, own_state)
    port = free_port()
    return start_agent(tmp, own_state, port, upstream, tree=tree, name=f"agent-{tag}"), port


def wait_answering(port: int, limit: float = 60) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if ask(port, "ready.fwd.test") is not None:
            return
        time.sleep(0.05)
    raise RuntimeError(f"no answer on port {port} after {limit} s")


def rotated_latencies(ports: Sequence[int], n: int) -> list[list[float]]:
    """Milliseconds per query for each port; query i goes to every port in turn."""
    out: list[list[float]] = [[] for _ in ports]
    gap = 1.0 / (RATE * len(ports))
    run = os.getpid()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        next_at = time.perf_counter()
        for i in range(n):
            for k, port in enumerate(ports):
                now = time.perf_counter()
                if now < next_at:
                    time.sleep(next_at - now)
                next_at += gap
                qid = (i * len(ports) + k) & 0xFFFF
                start = time.perf_counter()
                s.sendto(query(f"u{i}.t{k}.r{run}.fwd.test", qid), ("127.0.0.1", port))
                try:
                    while s.recv(65535)[:2] != struct.pack("!H", qid):
                        pass
                    out[k].append((time.perf_counter() - start) * 1000)
                except OSError:
                    out[k].append(2000.0)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("trees", nargs="+", type=Path, help="source trees to compare")
    parser.add_argument("--names", type=int, default=1000, help="list size (1000)")
    parser.add_argument("--queries", type=int, default=3000, help="per target (3000)")
    args = parser.parse_args(argv)
    tool("taskset")
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="resolver-ab-") as tmpname:
        tmp = Path(tmpname)
        try:
            state, _hosts = build_list(tmp, args.names)
            up = free_port()
            lines = ["address=/fwd.test/192.0.2.1", "cache-size=0", "local-ttl=300"]
            procs.append(start_dnsmasq(tmp, "upstream", up, lines))
            ports = [up]
            for k, tree in enumerate(args.trees):
                proc, port = start_service(tree.resolve(), tmp, state, f"t{k}", up)
                procs.append(proc)
                ports.append(port)
            for port in ports:
                wait_answering(port)
            ms = rotated_latencies(ports, args.queries)
            d50, d99 = pct(ms[0], 50), pct(ms[0], 99)
            parts = [f"direct p50 {d50:.3f} p99 {d99:.3f}"]
            for tree, values in zip(args.trees, ms[1:], strict=True):
                added50, added99 = pct(values, 50) - d50, pct(values, 99) - d99
                parts.append(f"{tree}: added p50 {added50:.3f} p99 {added99:.3f}")
            print(" | ".join(parts), flush=True)
        finally:
            stop_all(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
