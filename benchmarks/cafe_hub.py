"""The café hub's cost on its PC: RSS and CPU of a hub serving 40 kiosks' heartbeats.

`python -m benchmarks.cafe_hub [--kiosks 40] [--seconds 60]` (root: it runs in a network
namespace it makes, so the hub's mDNS advert never leaves this machine)

Three real ``kiosk-agent service`` processes, one after another, in the namespace (its
loopback and a veth pair with 192.0.2.10/24): a plain kiosk (``cafe.hub: off``), a
kiosk with ``cafe.hub: auto`` and no hub on the LAN (discovery runs in workers), and the
hub (``cafe.hub: this`` on 0.0.0.0, so it advertises by mDNS) with ``--kiosks`` simulated
PCs sending a heartbeat every 5 s and an operator's console refreshing every 10 s. Read
from ``/proc``: each service's VmRSS after the warm-up, and its CPU time (user + system)
over ``--seconds`` as a share of one core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from benchmarks.kiosk_rss import memory
from benchmarks.resolver_bench import stop_all
from kiosk_agent.net.ports import free_port

REPO = Path(__file__).resolve().parent.parent
NS = f"kbench{os.getpid() % 100000}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config(tmp: Path, name: str, hub: str) -> Path:
    state = tmp / name
    state.mkdir(parents=True)
    data: dict[str, Any] = {
        "state_dir": str(state),
        "cafe": {"hub": hub, "hub_listen": "0.0.0.0:8055"},
        "filter": {
            "listen": [f"127.0.0.1:{free_port()}"],
            "upstreams": ["127.0.0.1:9"],
            "blockpage_listen": f"127.0.0.1:{free_port()}",
        },
        "control": {"listen": f"127.0.0.1:{free_port()}"},
    }
    path = state / "agent.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def heartbeats(kiosks: int, stop: threading.Event) -> None:
    """``kiosks`` PCs, each beating every 5 s (spread over the interval), and a console."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    counters = [0] * kiosks
    start = time.monotonic()
    tick = 0
    while not stop.is_set():
        for i in range(kiosks):
            counters[i] += 40_000 + 1000 * i
            beat = {
                "pc": f"pc{i:02d}",
                "name": f"PC {i}",
                "rx": counters[i],
                "tx": counters[i] // 10,
                "protected": True,
                "lists": [{"list_id": "hotline", "version": 7, "updated_at": time.time()}],
                "ui_running": True,
                "notices_today": 3,
            }
            req = urllib.request.Request(
                "http://127.0.0.1:8055/hub/v1/heartbeat",
                data=json.dumps(beat).encode(),
                headers={"Content-Type": "application/json"},
            )
            with contextlib.suppress(OSError):
                opener.open(req, timeout=5).read()
            stop.wait(5.0 / kiosks)
        tick += 1
        if tick % 2 == 0:
            with contextlib.suppress(OSError):
                opener.open("http://127.0.0.1:8055/console", timeout=5).read()
    del start


def measure(path: Path, warmup: float, seconds: float, kiosks: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("KIOSK_AGENT_NO_MDNS", None)  # inside this benchmark's own namespace
    log = (path.parent / "service.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_agent", "service", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    stop = threading.Event()
    driver = threading.Thread(target=heartbeats, args=(kiosks, stop), daemon=True)
    try:
        time.sleep(3)
        if kiosks:
            driver.start()
        time.sleep(warmup)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        mem = memory(proc.pid)
    finally:
        stop.set()
        stop_all([proc])
        log.close()
    return {"rss_mb": mem["VmRSS"], "anon_mb": mem["RssAnon"], "cpu_percent": 100 * cpu}


def inside(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="cafe-hub-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results = {
            "plain kiosk (hub: off)": measure(
                config(tmp, "off", "off"), args.warmup, args.seconds, 0
            ),
            "kiosk, hub: auto, no hub": measure(
                config(tmp, "auto", "auto"), args.warmup, args.seconds, 0
            ),
            f"hub with {args.kiosks} kiosks": measure(
                config(tmp, "hub", "this"), args.warmup, args.seconds, args.kiosks
            ),
        }
    base = results["plain kiosk (hub: off)"]
    for name, r in results.items():
        print(
            f"{name:28s} RSS {r['rss_mb']:5.1f} MB (anon {r['anon_mb']:5.1f}, "
            f"{r['rss_mb'] - base['rss_mb']:+5.1f})  CPU {r['cpu_percent']:.2f} % of a core"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cafe_hub")
    parser.add_argument("--kiosks", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.inside:
        return inside(args)
    if os.geteuid() != 0:
        print("cafe_hub: needs root (it runs in a network namespace of its own); skipped")
        return 0
    cmds = [
        ["ip", "netns", "add", NS],
        ["ip", "-n", NS, "link", "set", "lo", "up"],
        ["ip", "-n", NS, "link", "add", "lan0", "type", "veth", "peer", "name", "lan1"],
        ["ip", "-n", NS, "addr", "add", "192.0.2.10/24", "dev", "lan0"],
        ["ip", "-n", NS, "link", "set", "lan1", "up"],
        ["ip", "-n", NS, "link", "set", "lan0", "up"],
        ["ip", "-n", NS, "route", "add", "default", "dev", "lan0"],
    ]
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True)
        again = [
            "ip",
            "netns",
            "exec",
            NS,
            sys.executable,
            "-m",
            "benchmarks.cafe_hub",
            "--inside",
            "--kiosks",
            str(args.kiosks),
            "--seconds",
            str(args.seconds),
            "--warmup",
            str(args.warmup),
        ]
        return subprocess.run(
            again, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO))
        ).returncode
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
