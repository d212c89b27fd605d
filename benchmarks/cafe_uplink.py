"""Uplink bytes of a café's day, feeds and reports apart, with and without the café hub.

`python -m benchmarks.cafe_uplink [--kiosks 1 5 20] [--day 240]` (root: it builds the
café in a box of tests/e2e/cafe_box.py: network namespaces, a 1 Mbit/s uplink with
150 ms each way and 1 % loss, the real ``kiosk-server`` over TLS).

For each number of kiosks N, two cafés share the box and its uplink at the same time:
N kiosks with ``cafe.hub: off`` and N kiosks with ``cafe.hub: auto`` plus the hub's PC
(``cafe.hub: this``); every one a real ``kiosk-agent service`` with its own state folder.
nft counters on the uplink count each café's bytes (IP bytes, both ways) apart, by
its LAN addresses, and feeds (port 8443) apart from reports (port 8444).

The day is compressed: every kiosk already holds version 1 of a 50,000-entry list (not
counted); then, over ``--day`` seconds with ``filter.update_every: 60s`` (the shortest
allowed), each kiosk makes its scheduled checks (4 in 240 s: a 6-hour interval's day)
and the hotline publishes one new version (a delta of 2,000 entries) 30 s in; last,
every kiosk counts a few blocks and sends its day's report (``report upload --now``).
What compression changes: the hub revalidates its mirrored manifest at most every
quarter ``update_every`` (15 s here); with the default 6 h interval it is every 15 min
(``mirror.MANIFEST_FRESH``), so in a real day a hub may revalidate more often relative
to the kiosks' checks than here (see docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.e2e import cafe_box
from tests.e2e.cafe_box import BLOCKED, REGION_IP, Box, Node, wait_for

GROUPS = ("direct", "hub")


def _group_addresses(kiosks: int) -> dict[str, str]:
    """nft address sets: kiosks k1..kN go direct, kN+1..k2N and the hub use the hub."""
    direct = f"192.0.2.11-192.0.2.{10 + kiosks}"
    hub = f"192.0.2.{11 + kiosks}-192.0.2.{10 + 2 * kiosks}"
    return {"direct": f"{{ {direct} }}", "hub": f"{{ {cafe_box.HUB_IP}, {hub} }}"}


def _add_counters(box: Box, kiosks: int) -> list[tuple[str, str]]:
    """One counter per (group, port), both directions; returns their labels in order."""
    labels = []
    up = box.nsx("up", "nft")
    box.run(*up, "add table inet bench")
    box.run(*up, "add chain inet bench forward { type filter hook forward priority 10; }")
    for group, addresses in _group_addresses(kiosks).items():
        for port in ("8443", "8444"):
            box.run(
                *up,
                f"add rule inet bench forward ip saddr {addresses} ip daddr {REGION_IP} "
                f"tcp dport {port} counter",
            )
            box.run(
                *up,
                f"add rule inet bench forward ip saddr {REGION_IP} tcp sport {port} "
                f"ip daddr {addresses} counter",
            )
            labels.append((group, port))
    return labels


def _read(box: Box, labels: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    import json

    out = box.run(*box.nsx("up", "nft", "-j", "list", "table", "inet", "bench"))
    counters = [
        expr["counter"]
        for item in json.loads(out)["nftables"]
        for expr in (item.get("rule") or {}).get("expr", [])
        if "counter" in expr
    ]
    got: dict[tuple[str, str], int] = {}
    for i, label in enumerate(labels):  # two rules (each way) per label
        got[label] = int(counters[2 * i]["bytes"]) + int(counters[2 * i + 1]["bytes"])
    return got


def one_day(tmp: Path, kiosks: int, day: float) -> dict[str, dict[str, int]]:
    with cafe_box.cafe_box(tmp, kiosks=2 * kiosks) as box:
        code = box.start_region(uses=2 * kiosks + 1)
        labels = _add_counters(box, kiosks)
        pub = box.publisher("day")
        pub.publish()
        hub = box.node("hub", "day", pub.list_id, "this")
        nodes: dict[str, list[Node]] = {"direct": [], "hub": []}
        for i in range(1, 2 * kiosks + 1):
            group = "direct" if i <= kiosks else "hub"
            node = box.node(f"k{i}", "day", pub.list_id, "off" if group == "direct" else "auto")
            box.enroll(node, code)
            nodes[group].append(node)
        box.start(hub)
        every = [*nodes["direct"], *nodes["hub"]]
        for n in every:
            box.start(n)
        pcs = [*every, hub]
        took = wait_for(
            lambda: all(box.version(n) == 1 for n in pcs), 900, "v1 not everywhere", every=3
        )
        print(f"  {len(pcs)} services up with version 1 after {took:.0f} s", flush=True)
        before = _read(box, labels)
        start = time.monotonic()
        time.sleep(30)
        pub.publish()
        time.sleep(max(0.0, day - (time.monotonic() - start)))
        feeds = _read(box, labels)
        reached = {g: sum(box.version(n) == 2 for n in nodes[g]) for g in GROUPS}
        print(f"  kiosks on version 2 after the day: {reached}", flush=True)
        for n in every:
            assert box.blocked(n, f"day.{BLOCKED}")
        time.sleep(6)  # the services flush their counts every 5 s
        outputs = box.upload_now(every)
        print(f"  uploads: {sum('holds the rest' in o for o in outputs)} handed to the hub")
        wait_for(
            lambda: len(box.server_reports()) >= 2 * kiosks,
            300,
            "not every report reached the server",
            every=2,
        )
        time.sleep(3)  # the connections' closing packets
        after = _read(box, labels)
        return {
            g: {
                "feeds": feeds[(g, "8443")] - before[(g, "8443")],
                "reports": after[(g, "8444")] - before[(g, "8444")],
                "kiosks_on_v2": reached[g],
            }
            for g in GROUPS
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cafe_uplink")
    parser.add_argument("--kiosks", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--day", type=float, default=240.0, help="seconds of the compressed day")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if os.geteuid() != 0:
        print("cafe_uplink: needs root (network namespaces); skipped")
        return 0
    if not cafe_box.have_tools():
        print("cafe_uplink: ip, tc and nft are needed; skipped")
        return 0
    print("kiosks  café     feeds B  reports B  per kiosk-day (feeds + reports)")
    for n in args.kiosks:
        print(f"{n} kiosk(s) per café:", flush=True)
        with tempfile.TemporaryDirectory(prefix="cafe-uplink-") as tmp:
            got = one_day(Path(tmp), n, args.day)
        for group in GROUPS:
            r = got[group]
            per = (r["feeds"] + r["reports"]) / n
            print(
                f"{n:6d}  {group:7s} {r['feeds']:8d}  {r['reports']:9d}  "
                f"{per:9.0f}  ({r['feeds'] / n:.0f} + {r['reports'] / n:.0f}; "
                f"{r['kiosks_on_v2']}/{n} on the new version)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
