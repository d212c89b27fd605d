"""RSS of a working kiosk: the real service with a 1M-entry list from a feed, uploading.

`python -m benchmarks.kiosk_rss [--names 1000000] [--seconds 10]`

- the list: ``n0.blocked.test`` ... (reserved names only), a signed full bundle in a
  ``file://`` feed directory (made with ``manifest.publish``); the service starts with no
  index, so its feed-check worker fetches, verifies and applies the 1M bundle;
- the regional server: ``python -m regional_server`` on loopback with SQLite (as the demo
  runs it), a region and an enrollment code; the kiosk enrolls with `kiosk-agent enroll`
  and has one report waiting (yesterday's), so an upload worker really signs and sends;
- an upstream dnsmasq on loopback with local records (nothing leaves the machine);
- the service runs pinned to CPU 1 (``taskset -c 1``), dnsperf on CPU 0 sends listed names
  and cached names (default concurrency), as ``benchmarks.resolver_bench`` does;
- read from ``/proc``: the service's VmRSS, RssAnon, RssFile and VmHWM after start, after
  the feed and the upload (workers gone), and after the load; each worker's peak RSS
  (VmHWM, polled while it runs) as a separate, transient figure; and which of ``_ssl``,
  ``libssl``, cryptography's ``_rust`` the service maps.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.resolver_bench import signed_bundle, stop_all
from kiosk_agent.net.ports import free_port

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("_ssl.", "libssl", "_rust.", "cryptography")


def tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None
    )
    if path is None:
        raise SystemExit(f"{name} is not installed (scripts/test-deps.sh installs it)")
    return path


def memory(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon, RssFile, VmHWM of ``pid`` in MB (10^6 bytes)."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"^(VmRSS|RssAnon|RssFile|RssShmem|VmHWM):\s+(\d+) kB", text, re.M))
    return {k: round(int(v) * 1024 / 1e6, 1) for k, v in found.items()}


def heavy_maps(pid: int) -> list[str]:
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return sorted({Path(ln.split()[-1]).name for ln in lines if any(h in ln for h in HEAVY)})


class WorkerWatch(threading.Thread):
    """Polls the service's children every 20 ms; keeps each one's peak RSS (VmHWM)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks: dict[int, dict[str, Any]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        service = psutil.Process(self.pid)
        while not self.stop.is_set():
            try:
                children = service.children()
            except psutil.Error:
                return
            for child in children:
                try:
                    mem = memory(child.pid)
                    cmd = child.cmdline()
                except (OSError, psutil.Error):
                    continue
                job = cmd[cmd.index("worker") + 1] if "worker" in cmd else " ".join(cmd[:3])
                seen = self.peaks.setdefault(child.pid, {"job": job, "VmHWM": 0.0})
                seen["VmHWM"] = max(seen["VmHWM"], mem.get("VmHWM", 0.0))
            time.sleep(0.02)


def build_feed(tmp: Path, n: int) -> tuple[Path, str]:
    """A feed directory holding one signed full bundle of ``n`` names; its trust key."""
    from kiosk_agent.contracts import manifest

    data, pub = signed_bundle(f"n{i}.blocked.test" for i in range(n))
    feed_dir = tmp / "feed"
    manifest.publish(feed_dir, [data])
    return feed_dir, pub


def run(argv: Sequence[str], env: dict[str, str], **kw: Any) -> str:
    done = subprocess.run(list(argv), env=env, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {done.stderr[-500:]}")
    return str(done.stdout)


def start_server(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str]:
    """The regional server on SQLite, a region and a code; (process, URL, code)."""
    server = [sys.executable, "-m", "regional_server"]
    (tmp / "server").mkdir()
    run([*server, "init-db"], env)
    run([*server, "create-region", "KE-NBO", "Nairobi (benchmark)", "--country", "KE"], env)
    out = run([*server, "create-enrollment-code", "--region", "KE-NBO", "--expires", "1d"], env)
    code = out.strip().splitlines()[-1].strip()
    port = free_port()
    proc = subprocess.Popen(
        [*server, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "server.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 60
    while True:
        try:
            with opener.open(f"{url}/login", timeout=2) as r:
                if r.status == 200:
                    return proc, url, code
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the regional server did not start (server.log)")
        time.sleep(0.2)


def start_upstream(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    conf = tmp / "upstream.conf"
    conf.write_text(
        f"no-resolv\nno-hosts\nport={port}\nlisten-address=127.0.0.1\nbind-interfaces\n"
        "address=/cached.test/192.0.2.7\naddress=/example.test/192.0.2.8\n"
        "local-ttl=300\n"  # dnsmasq gives its own records TTL 0 by default
    )
    argv = [tool("dnsmasq"), f"--conf-file={conf}", "--keep-in-foreground"]
    argv.append(f"--pid-file={tmp / 'upstream.pid'}")
    if os.geteuid() == 0:
        argv.append("--user=root")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dnsperf(port: int, datafile: Path, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [
            *("taskset", "-c", "0", tool("dnsperf"), "-s", "127.0.0.1", "-p", str(port)),
            *("-d", str(datafile), "-l", str(seconds)),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    return {
        "qps": round(float(qps.group(1))) if qps else -1,
        "lost": int(lost.group(1)) if lost else -1,
    }


def status(config: Path, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "kiosk_agent", "status", "--config", str(config), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    try:
        data = json.loads(out)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--names", type=int, default=1_000_000, help="list size (1M)")
    parser.add_argument("--seconds", type=float, default=10, help="each dnsperf run (10)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    tool("dnsperf")
    tool("taskset")
    results: dict[str, Any] = {"names": args.names, "load_before": os.getloadavg()}
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="kiosk-rss-") as tmpname:
        tmp = Path(tmpname)
        env = dict(
            os.environ,
            PYTHONPATH=str(REPO),
            KIOSK_SERVER_DATA=str(tmp / "server"),
            KIOSK_SERVER_DB=f"sqlite:///{tmp / 'server' / 'server.sqlite'}",
        )
        try:
            t = time.monotonic()
            feed_dir, pub = build_feed(tmp, args.names)
            print(f"feed of {args.names:,} names built in {time.monotonic() - t:.1f} s")
            server, url, code = start_server(tmp, env)
            procs.append(server)
            up_port, dns_port = free_port(), free_port()
            procs.append(start_upstream(tmp, up_port))
            state = tmp / "state"
            config = tmp / "agent.yaml"
            config.write_text(
                f"state_dir: {state}\n"
                "filter:\n"
                f"  listen: ['127.0.0.1:{dns_port}']\n"
                f"  upstreams: ['127.0.0.1:{up_port}']\n"
                "  cache: {max_entries: 10000}\n"
                f"  feeds: [{{url: '{feed_dir.as_uri()}', trust: ['{pub}']}}]\n"
                "  update_every: 6h\n"
                f"reporting: {{server: '{url}', flush_every: 1s, upload_every: 1m,"
                " max_link_utilization: 1.0}\n"
                f"control: {{listen: '127.0.0.1:{free_port()}'}}\n"
            )
            agent = [sys.executable, "-m", "kiosk_agent"]
            run([*agent, "enroll", "--config", str(config), "--server", url, "--code", code], env)
            seed_report(state)

            log = (tmp / "service.log").open("wb")
            service = subprocess.Popen(
                ["taskset", "-c", "1", *agent, "service", "--config", str(config)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
            )
            procs.append(service)
            watch = WorkerWatch(service.pid)
            assert service.stdout is not None
            service.stdout.readline()  # "kiosk-agent service running"
            watch.start()
            results["service_after_start"] = memory(service.pid)
            t0 = time.monotonic()
            applied = uploaded = None
            while time.monotonic() - t0 < 300 and (applied is None or uploaded is None):
                s = status(config, env)
                lists = (s.get("filter") or {}).get("lists") or []
                if applied is None and any(x.get("entries") == args.names for x in lists):
                    applied = round(time.monotonic() - t0, 1)
                rep = (s.get("components") or {}).get("reporting") or {}
                if uploaded is None and rep.get("last_upload") and not rep.get("reports_waiting"):
                    uploaded = round(time.monotonic() - t0, 1)
                time.sleep(0.5)
            if applied is None or uploaded is None:
                raise SystemExit(f"feed applied: {applied}, upload done: {uploaded} (service.log)")
            results["feed_applied_after_s"], results["uploaded_after_s"] = applied, uploaded
            while _children(service.pid):
                time.sleep(0.1)
            time.sleep(1)
            if service.poll() is not None:
                tail = (tmp / "service.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"the service exited ({service.returncode}):\n{tail}")
            results["service_after_feed_and_upload"] = memory(service.pid)

            rng = random.Random(7)
            blocked = tmp / "blocked.txt"
            blocked.write_text(
                "".join(f"n{rng.randrange(args.names)}.blocked.test A\n" for _ in range(100_000))
            )
            cached = tmp / "cached.txt"
            cached.write_text("".join(f"c{i}.cached.test A\n" for i in range(1000)))
            results["dnsperf_blocked"] = dnsperf(dns_port, blocked, args.seconds)
            results["dnsperf_cached"] = dnsperf(dns_port, cached, args.seconds)
            results["service_after_load"] = memory(service.pid)
            results["service_maps_tls_or_cryptography"] = heavy_maps(service.pid)
            watch.stop.set()
            watch.join()
            results["workers_peak_rss"] = list(watch.peaks.values())
            results["load_after"] = os.getloadavg()
        finally:
            stop_all(list(reversed(procs)), wait=30)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def seed_report(state: Path) -> None:
    """Yesterday's counts, cut and waiting: the first upload round has one to send."""
    from kiosk_agent.reporting.outbox import Outbox

    outbox = Outbox.in_state_dir(state)
    day = int(time.time() // 86400) * 86400 - 86400
    outbox.flush({(day, "blocked.csam"): 3, (day, "sessions.login"): 12}, 86400)
    outbox.cut(time.time(), all_periods=True, agent_version="0.1.0")
    outbox.close()


if __name__ == "__main__":
    sys.exit(main())
