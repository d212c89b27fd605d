"""The UI process (`kiosk-agent ui`): idle memory and CPU, and how fast the notice appears.

Runs the real `kiosk-agent ui` (tray included) on a private Xvfb against a small fake
control service on loopback. Measures, per run:
- idle RSS and CPU of the UI process after it settled (targets: <= 40 MB, ~0 %);
- latency from the service answering the UI's event poll with a billing-hook session
  signal to the notice window being mapped on the X display (target: <= 1 s), observed
  from outside with `xdotool search --onlyvisible`.

`python -m benchmarks.notices_ui [--runs N] [--idle SECONDS]`
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psutil

REPO = Path(__file__).resolve().parent.parent


def start_xvfb(width: int = 1024, height: int = 768) -> tuple[subprocess.Popen[bytes], str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24",
         "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write_fd)
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([read_fd], [], [], 10)
        if not ready:
            raise RuntimeError("Xvfb did not start")
        data += os.read(read_fd, 64)
    os.close(read_fd)
    return proc, f":{int(data.strip())}"


class Service(BaseHTTPRequestHandler):
    """Answers the UI's calls; ``fire`` makes the pending event poll return a session signal."""

    fire: ClassVar[threading.Event] = threading.Event()
    fired_at: ClassVar[list[float]] = []
    seq: ClassVar[int] = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the UI stopped while its poll was pending
            self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/v1/events"):
            events: list[dict[str, Any]] = []
            wait = float(self.path.partition("wait=")[2] or 0)
            if wait > 0 and Service.fire.wait(min(wait, 5)):
                Service.fire.clear()
                Service.seq += 1
                events = [{"seq": Service.seq, "type": "session_signal", "trigger": "billing_hook"}]
                Service.fired_at.append(time.monotonic())
            self._reply({"next": Service.seq, "events": events})
        else:
            now = time.time()
            self._reply({"protected": True, "filter": {"lists": [{"updated_at": now - 7200}]}})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._reply({"status": "published"})


def visible_notice(display: str) -> bool:
    done = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", "Safety notice"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and bool(done.stdout.strip())


def print_smaps(pid: int) -> None:
    """Where the resident memory is: the biggest mappings, summed by file (or [anon])."""
    sizes: dict[str, int] = {}
    name = "?"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and "-" in fields[0] and ":" in fields[3]:
            name = fields[5] if len(fields) > 5 else "[anon]"
        elif fields and fields[0] == "Rss:":
            sizes[name] = sizes.get(name, 0) + int(fields[1])
    for path, kb in sorted(sizes.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {kb / 1024:6.1f} MB  {path}")


def one_run(idle: float) -> dict[str, float]:
    xvfb, display = start_xvfb()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-ui-bench-"))
    (tmp / "control.token").write_text("bench-token")
    (tmp / "agent.yaml").write_text(
        f"state_dir: {tmp}\n"
        "cafe: {name: Bench, country: KE, region: KE-NBO, languages: [sw, en]}\n"
        "notices: {triggers: [login, idle_reset, billing_hook], min_gap: 0, min_display: 1s}\n"
        f'control: {{listen: "127.0.0.1:{httpd.server_address[1]}"}}\n'
    )
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(REPO)}
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk_agent",
            "ui",
            "--config",
            str(tmp / "agent.yaml"),
            "--no-restart",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        proc = psutil.Process(ui.pid)
        time.sleep(6)  # start-up, font warm-up, first status poll
        if ui.poll() is not None:
            raise RuntimeError(ui.stderr.read().decode() if ui.stderr else "ui exited")
        cpu0 = proc.cpu_times()
        time.sleep(idle)
        cpu1 = proc.cpu_times()
        cpu_pct = 100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / idle
        rss_idle = proc.memory_info().rss / 2**20
        if os.environ.get("BENCH_SMAPS"):
            print_smaps(ui.pid)
        Service.fired_at.clear()
        Service.fire.set()
        deadline = time.monotonic() + 10
        while not visible_notice(display) and time.monotonic() < deadline:
            time.sleep(0.01)
        shown = time.monotonic()
        latency = shown - Service.fired_at[0] if Service.fired_at else float("nan")
        # The button waits a reading time: 0.5-2.5 x min_display (1 s here), see
        # kiosk_agent/notices/reading.py.
        time.sleep(3.0)
        rss_notice = proc.memory_info().rss / 2**20
        # Acknowledge (Return on the focused button) and measure the steady state a kiosk
        # lives in: idle again after a notice was shown and closed.
        subprocess.run(
            ["xdotool", "search", "--name", "Safety notice", "key", "--window", "%1", "Return"],
            env={**os.environ, "DISPLAY": display},
            capture_output=True,
            check=False,
        )
        deadline = time.monotonic() + 5
        while visible_notice(display) and time.monotonic() < deadline:
            time.sleep(0.05)
        closed = not visible_notice(display)
        time.sleep(8)
        rss_after = proc.memory_info().rss / 2**20 if closed else float("nan")
        if os.environ.get("BENCH_SMAPS"):
            print("after the notice closed:")
            print_smaps(ui.pid)
        return {
            "idle_rss_mb": rss_idle,
            "idle_cpu_pct": cpu_pct,
            "notice_latency_s": latency,
            "rss_with_notice_mb": rss_notice,
            "rss_after_notice_mb": rss_after,
        }
    finally:
        ui.terminate()
        try:
            ui.wait(timeout=5)
        except subprocess.TimeoutExpired:
            ui.kill()
        httpd.shutdown()
        httpd.server_close()
        xvfb.terminate()
        xvfb.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notices_ui")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measured")
    args = parser.parse_args(argv)
    if not shutil.which("Xvfb") or not shutil.which("xdotool"):
        print("needs Xvfb and xdotool (scripts/test-deps.sh)")
        return 1
    results = [one_run(args.idle) for _ in range(args.runs)]
    for i, r in enumerate(results, 1):
        print(
            f"run {i}: idle RSS {r['idle_rss_mb']:.1f} MB, idle CPU {r['idle_cpu_pct']:.2f} %, "
            f"notice on screen {r['notice_latency_s'] * 1000:.0f} ms after the signal, "
            f"RSS with the notice {r['rss_with_notice_mb']:.1f} MB, "
            f"idle after it closed {r['rss_after_notice_mb']:.1f} MB"
        )
    worst_latency = max(r["notice_latency_s"] for r in results)
    worst_rss = max(max(r["idle_rss_mb"], r["rss_after_notice_mb"]) for r in results)
    ok = worst_latency <= 1.0 and worst_rss <= 40.0
    print(
        f"worst: latency {worst_latency * 1000:.0f} ms (target <= 1000), idle RSS "
        f"{worst_rss:.1f} MB (target <= 40): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
