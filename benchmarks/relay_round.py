"""One hub relay round's bytes on the wire, part by part (issue 18): ``python -m
benchmarks.relay_round``. Root: a network namespace of its own (loopback only) with nft
counters on the report port, the real ``kiosk-server serve --tls-cert`` and the hub's
real ``relay.forward`` with 5 held reports (of kiosks not enrolled: the server answers
each item with an error code, a longer answer than a real round's "stored", the same in
every variant, so the differences hold). No delay, no loss:
the café in a box (tests/e2e/test_cafe_hub.py) measures those; this one compares
variants side by side in seconds: the server's session tickets, the relay's one write
per request.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PORT = 8444


def _sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _report(i: int) -> bytes:
    """A plain JSON body shaped like a kiosk's day report (≈ 290 B; generated counts)."""
    return json.dumps(
        {
            "v": 1,
            "kiosk_id": f"k{i:02d}-{uuid.UUID(int=i).hex[:20]}",
            "period": {"start": "2026-12-02T00:00:00Z", "end": "2026-12-03T00:00:00Z"},
            "agent_version": "0.18.0",
            "lists": {"hotline-ke": 41},
            "counts": {"blocked.csam": 3 + i, "notices.shown": 2, "sessions": 11 + i},
        },
        separators=(",", ":"),
    ).encode()


def _round(
    ns: str, url: str, ca: Path, one_write: bool, close: bool, lean: bool, state: Path
) -> dict[str, Any]:
    """A relay round in the namespace (a child process: the namespace is its network)."""
    code = f"""
import json, time
from pathlib import Path
import requests
from kiosk_agent.hub import relay
from benchmarks.relay_round import _report
outbox = relay.HubOutbox(Path({str(state)!r}) / "outbox.sqlite3")
now = time.time()
for i in range(5):
    outbox.hold(relay.HandOff(str(__import__("uuid").uuid4()), f"k{{i}}", int(now),
                "c2ln" * 22, _report(i), None), now)
session = requests.Session()
session.verify = {str(ca)!r}
relay.lean_client_hello(session)
if {one_write!r}:
    relay.one_write_requests(session)
if not {lean!r}:  # the heads before: urllib3's User-Agent, http.client's Accept-Encoding
    relay._BARE["Accept-Encoding"] = relay._BARE["User-Agent"] = None
if {close!r}:  # the round's only request says it is the last
    relay._BARE["Connection"] = "close"
out = relay.forward(outbox, session, {url!r}, now)
session.close()
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    out = r.stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _counters(ns: str) -> tuple[int, int, int, int]:
    """(bytes to the server, packets, bytes from it, packets) on the report port."""
    data = json.loads(_sh("ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", "m"))
    found = [
        expr["counter"]
        for item in data["nftables"]
        for expr in (item.get("rule") or {}).get("expr", [])
        if "counter" in expr
    ]
    return (
        int(found[0]["bytes"]),
        int(found[0]["packets"]),
        int(found[1]["bytes"]),
        int(found[1]["packets"]),
    )


def measure(
    tickets: int, one_write: bool, close: bool, lean: bool, rounds: int
) -> list[tuple[int, int, int, int]]:
    from tests.tls_certs import make_tls_files

    ns = f"rr{os.getpid() % 100000}"
    tmp = Path(tempfile.mkdtemp(prefix="relay-round-"))
    server: subprocess.Popen[bytes] | None = None
    _sh("ip", "netns", "add", ns)
    try:
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
        for rule in (
            "add table inet m",
            "add chain inet m out { type filter hook output priority 0; }",
            f"add rule inet m out tcp dport {PORT} counter",
            f"add rule inet m out tcp sport {PORT} counter",
        ):
            _sh("ip", "netns", "exec", ns, "nft", rule)
        env = {**os.environ, "PYTHONPATH": str(REPO), "KIOSK_SERVER_DATA": str(tmp / "data")}
        env.pop("KIOSK_SERVER_DB", None)
        (tmp / "server.yaml").write_text(f"tls_session_tickets: {tickets}\n")
        env["KIOSK_SERVER_CONFIG"] = str(tmp / "server.yaml")
        tls = make_tls_files(tmp / "tls", ["127.0.0.1"])
        subprocess.run(
            [sys.executable, "-m", "regional_server", "init-db"],
            check=True,
            env=env,
            capture_output=True,
        )
        log = (tmp / "server.log").open("wb")
        server = subprocess.Popen(
            [
                "ip", "netns", "exec", ns, sys.executable, "-m", "regional_server", "serve",
                "--host", "127.0.0.1", "--port", str(PORT),
                "--tls-cert", str(tls.cert_pem), "--tls-key", str(tls.key_pem),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )  # fmt: skip
        url = f"https://127.0.0.1:{PORT}"
        probe = f"import socket; socket.create_connection(('127.0.0.1', {PORT}), 1).close()"
        deadline = time.monotonic() + 60
        while subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", probe], capture_output=True
        ).returncode:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError((tmp / "server.log").read_text())
            time.sleep(0.3)
        results = []
        for i in range(rounds):
            before = _counters(ns)
            state = tmp / f"round{i}"
            state.mkdir()
            out = _round(ns, url, tls.ca_pem, one_write, close, lean, state)
            assert out["requests"] == 1 and out["connections"] == 1, out
            time.sleep(1.0)  # the closing packets
            after = _counters(ns)
            results.append(
                (
                    after[0] - before[0],
                    after[1] - before[1],
                    after[2] - before[2],
                    after[3] - before[3],
                )
            )
        return results
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("relay_round: needs root (a network namespace)", file=sys.stderr)
        return 2
    print("variant | to server B (packets) | from server B (packets) | total B")
    variants = (  # tickets, one write, Connection: close, lean heads
        (2, False, False, False),
        (0, False, False, False),
        (0, True, False, False),
        (0, True, False, True),
        (0, True, True, True),
    )
    for tickets, one_write, close, lean in variants:
        for up, up_p, down, down_p in measure(tickets, one_write, close, lean, args.rounds):
            print(
                f"tickets {tickets}, one write {'on' if one_write else 'off'}, "
                f"close {'on' if close else 'off'}, lean heads {'on' if lean else 'off'} | "
                f"{up} ({up_p}) | {down} ({down_p}) | {up + down}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
