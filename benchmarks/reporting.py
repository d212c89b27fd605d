"""Reporting benchmarks (issue 5): cost of counting an event, bytes per kiosk-day, and
bytes sent while the link is busy.

Run: ``python -m benchmarks.reporting`` (all loopback; uses the tests' stand-in server
and a byte-counting TCP relay in front of it).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import tempfile
import threading
import time
from pathlib import Path

from kiosk_agent.net.clock import Clock
from kiosk_agent.reporting.counters import Counters
from kiosk_agent.reporting.events import (
    Blocked,
    Event,
    EventBus,
    NoticeAcknowledged,
    NoticeShown,
    SessionStarted,
    TamperDetected,
)
from kiosk_agent.reporting.identity import KioskKey, enroll, load_enrollment
from kiosk_agent.reporting.outbox import Outbox, flush_counters
from kiosk_agent.reporting.uploader import LinkReading, Uploader

LOCALES = ("sw", "en", "fr", "ar", "am", "so", "ha", "yo", "ig", "zu", "hi", "bn", "km", "th", "vi")
CATEGORIES = ("csam", "grooming", "sextortion", "trafficking", "bypass")


class CountingRelay:
    """A TCP relay on loopback that counts the bytes going each way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = 0
        self.down = 0
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, "down"), daemon=True
            ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while data := src.recv(65536):
                if direction == "up":
                    self.up += len(data)
                else:
                    self.down += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


def busy_day_events() -> list[Event]:
    """30 sessions, notices in 15 locales, blocks in 5 categories, a tamper attempt."""
    events: list[Event] = []
    for i in range(30):
        events.append(SessionStarted("login" if i % 3 else "idle_reset"))
        locale = LOCALES[i % 15]
        events.append(NoticeShown(locale))
        if i % 5:
            events.append(NoticeAcknowledged(locale))
    events += [Blocked(CATEGORIES[i % 5]) for i in range(47)]
    events.append(TamperDetected("doh"))
    return events


def bench_counting(n: int) -> dict[str, float]:
    """Seconds per event (wall and CPU), Counters.count directly and via EventBus.publish.

    Includes folding the queue into counts (``take``): the whole cost of an event.
    """
    events = busy_day_events()
    m = len(events)
    out: dict[str, float] = {}
    for label in ("direct", "bus"):
        counters = Counters(Clock(None).now, "day")
        bus = EventBus()
        bus.subscribe(counters)
        call = counters.count if label == "direct" else bus.publish
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            call(events[i % m])
        counters.take()
        out[f"{label}_wall"] = (time.perf_counter() - wall) / n
        out[f"{label}_cpu"] = (time.process_time() - cpu) / n
    return out


def bench_wire(tls: bool) -> dict[str, int]:
    """Bytes for one busy kiosk-day: one report uploaded through the counting relay."""
    from tests.reporting.report_server import ReportServer
    from tests.tls_certs import make_tls_files

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        ctx = None
        ca = None
        if tls:
            files = make_tls_files(Path(tmp) / "tls", ["localhost"])
            ctx = files.server_context()
            ca = str(files.ca_pem)
        with ReportServer({"C": ("KE-NBO", "KE")}, tls=ctx) as server:
            scheme = "https" if tls else "http"
            from kiosk_agent.net.direct_http import direct_session

            with direct_session([], ca_bundle=ca) as s:
                enroll(state, f"{scheme}://localhost:{server.port}", "C", s, now=time.time())
            relay = CountingRelay(server.port)
            url = f"{scheme}://localhost:{relay.port}"
            outbox = Outbox.in_state_dir(state)
            clock = Clock(state)
            counters = Counters(lambda: clock.now() - 86400, "day")
            for event in busy_day_events():
                counters.count(event)
            flush_counters(counters, outbox)
            outbox.cut(clock.now(), all_periods=False, agent_version="0.1.0")
            session = direct_session([], ca_bundle=ca, clock=clock)
            uploader = Uploader(
                outbox,
                KioskKey.load_or_create(state),
                clock,
                session,
                server=url,
                max_utilization=0.3,
                daily_budget=200_000,
            )
            enrollment = load_enrollment(state)
            busy = LinkReading(90_000, 0, 100_000, 100_000)
            for _ in range(10):
                uploader.run_round(enrollment, busy)
            time.sleep(0.2)
            busy_bytes = relay.up + relay.down
            result = uploader.run_round(enrollment, LinkReading(0, 0, 100_000, 100_000))
            assert result.sent == 1, result
            session.close()
            time.sleep(0.3)
            body = outbox.get_meta("budget")["bytes"]
            stored = server.state.reports[-1]
            out = {
                "counters": len(stored["counts"]),
                "http_bytes": result.bytes,
                "tcp_up": relay.up,
                "tcp_down": relay.down,
                "tcp_total": relay.up + relay.down,
                "busy_bytes": busy_bytes,
                "budget_charged": body,
            }
            relay.close()
            outbox.close()
            return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    c = bench_counting(args.events)
    print(
        f"counting, {args.events} events: Counters.count {c['direct_cpu'] * 1e6:.2f} µs CPU "
        f"({c['direct_wall'] * 1e6:.2f} µs wall); EventBus.publish -> Counters "
        f"{c['bus_cpu'] * 1e6:.2f} µs CPU ({c['bus_wall'] * 1e6:.2f} µs wall)"
    )
    for tls in (False, True):
        w = bench_wire(tls)
        label = "https" if tls else "http"
        print(
            f"busy kiosk-day over {label}: {w['counters']} counters; HTTP request+response "
            f"{w['http_bytes']} B; TCP payload {w['tcp_total']} B (up {w['tcp_up']}, "
            f"down {w['tcp_down']}); sent while the link was busy (10 rounds): "
            f"{w['busy_bytes']} B"
        )
    ok = c["bus_cpu"] <= 5e-6
    print("target counting <= 5 µs/event:", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
