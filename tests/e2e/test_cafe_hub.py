"""The café in a box (issue 18): a hub and 5 real ``kiosk-agent service`` processes on a
bridged LAN, a 1 Mbit/s uplink with 150 ms each way and 1 % loss each way, and the
real regional server over TLS in a "region" namespace. Root only (network
namespaces); skipped with the reason otherwise, failed under ``CI=true``.

Measured on the uplink interface, in one run:
- a full bundle and three deltas cross once: 5 kiosks with the hub ≤ 1.2 × one kiosk
  alone (no hub);
- the 5 kiosks' reports cross in one TLS connection (connections counted by source
  port, so a SYN sent again is not a second one), at most 1 KB per kiosk (IP bytes,
  handshake and retransmissions included), fewer than each kiosk's own upload
  (docs/BENCHMARKS.md); the region is ``kiosk-server serve --tls-cert``;
- a kiosk whose service stopped shows "NOT protected" on the console within a minute;
- the hub killed (holding reports it had not forwarded): kiosks keep blocking, fetch
  from the regional server, upload their own reports; the server has every count once;
- a rogue hub (mDNS, then an old bundle or one signed with another key): no kiosk
  applies it, each counts ``feeds.rejected.*``, each gets the right list from the server.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from kiosk_agent.contracts import feed, manifest
from kiosk_agent.hub.roles import feed_key
from tests.conftest import require
from tests.e2e.cafe_box import (
    BLOCKED,
    ROGUE_IP,
    SERVER,
    Box,
    Node,
    cafe_box,
    day_count,
    entries,
    have_tools,
    outbox_counts,
    wait_for,
)
from tests.filter.feed_helpers import keypair

pytestmark = pytest.mark.timeout(900)  # 5-10 min at a load of 10-20 on 2 cores


def _require_root() -> None:
    require(os.geteuid() == 0, "the café-in-a-box test makes network namespaces: run as root")
    require(have_tools(), "ip, tc and nft are needed (iproute2, nftables)")


def _reach_versions(box: Box, kiosks: list[Node], version: int, timeout: float = 60) -> float:
    """Ask every kiosk to update until all have ``version``; seconds it took."""

    def done() -> bool:
        late = [k for k in kiosks if box.version(k) != version]
        if late:
            box.update_now(late)
        return not late

    return wait_for(done, timeout, f"not every kiosk reached version {version}", every=2.0)


def _feed_run(box: Box, run: str, kiosks: int, hub: bool, code: str) -> int:
    """Bytes on the uplink while ``kiosks`` kiosks take a full bundle and three deltas."""
    pub = box.publisher(f"list-{run}")
    pub.publish()
    before = box.uplink_bytes()
    hub_node = None
    if hub:
        hub_node = box.node("hub", run, pub.list_id, "this")
        box.start(hub_node)
        wait_for(lambda: _hub_answers(box), 60, "the hub did not start")
    nodes = [
        box.node(f"k{i}", run, pub.list_id, "auto" if hub else "off") for i in range(1, kiosks + 1)
    ]
    for n in nodes:
        box.start(n)
    # The hub's PC is one of the café's kiosks too: it updates with the others.
    pcs = [*nodes, *([hub_node] if hub_node else [])]
    wait_for(lambda: all(box.version(n) == 1 for n in pcs), 90, "v1 not applied everywhere")
    for _ in range(3):
        # up to 15 s of the hub's manifest freshness, then two worker fetches over a
        # 300 ms round trip with loss, on a loaded machine
        _reach_versions(box, pcs, pub.publish(), timeout=120)
    used = box.uplink_bytes() - before
    for n in nodes:
        state = box.feed_state(n)
        if hub:  # everything came through the hub, none from the server directly
            assert state.get("direct_at") is None, (n.name, state)
    box.nodes = nodes  # type: ignore[attr-defined]
    box.hub_node = hub_node  # type: ignore[attr-defined]
    box.current = pub  # type: ignore[attr-defined]
    del code
    return used


def _hub_answers(box: Box) -> bool:
    out = box.py(
        "hub",
        "-c",
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('http://127.0.0.1:8055/hub/v1/ping', timeout=1)\n"
        "    print('ok')\n"
        "except OSError:\n"
        "    print('no')\n",
        check=False,
    )
    return out.strip() == "ok"


def _console(box: Box) -> str:
    return box.py(
        "hub",
        "-c",
        "import urllib.request\n"
        "print(urllib.request.urlopen('http://127.0.0.1:8055/console', timeout=5)"
        ".read().decode())\n",
    )


def _make_counts(box: Box, nodes: list[Node], tag: str) -> None:
    for i, n in enumerate(nodes):
        for j in range(3 + i):
            assert box.blocked(n, f"{tag}{j}.{BLOCKED}")
    # the service flushes its counts every 5 s
    wait_for(lambda: all(day_count(n, "blocked.csam") >= 3 for n in nodes), 30, "counts")


def _hub_of(box: Box, node: Node) -> object:
    """The hub a kiosk's service uses now (None while its service is starting)."""
    try:
        return box.control(node, "status()")["components"]["hub-client"]["hub"]
    except (RuntimeError, KeyError, ValueError):
        return None


def _stopped_shown(box: Box, pc: str) -> bool:
    return re.search(r'<tr class="no" data-pc="[^"]*\(' + pc + r'\)"', _console(box)) is not None


def _rogue_files(folder: Path, region_dir: Path, attack: str) -> None:
    """What the rogue serves: a replay of a bundle already applied under a newer-looking
    name, or a newer-looking bundle signed with a key the kiosks do not trust."""
    for f in folder.glob("*"):
        f.unlink()
    current = manifest.read_manifest(region_dir)
    assert current is not None
    if attack == "replay":
        shutil.copy(region_dir / current.full, folder / "full-99.bundle")
        data = manifest.Manifest(current.list_id, 99, "full-99.bundle")
    else:
        other, _ = keypair()
        now = int(time.time())
        bundle = feed.encode_full(
            entries(1),
            key=other,
            issuer="ROGUE",
            list_id=current.list_id,
            version=500,
            created=now - 60,
            expires=now + 86400,
        )
        (folder / "full-500.bundle").write_bytes(bundle)
        data = manifest.Manifest(current.list_id, 500, "full-500.bundle")
    (folder / "manifest.json").write_bytes(manifest.manifest_bytes(data))


def test_cafe_in_a_box(tmp_path: Path) -> None:
    _require_root()
    with cafe_box(tmp_path, kiosks=5) as box:
        code = box.start_region()
        # -- feeds: one kiosk alone, then five with the hub -----------------------------
        for i in range(1, 6):  # enrolled once; the enrollment moves with the state folder
            box.enroll(box.node(f"k{i}", "five", "x", "off"), code)
        alone = _feed_run(box, "one", 1, hub=False, code=code)
        for n in box.nodes:  # type: ignore[attr-defined]
            box.stop(n)
        five = _feed_run(box, "five", 5, hub=True, code=code)
        print(f"\nuplink bytes, full + 3 deltas: 1 kiosk alone {alone}, 5 with the hub {five}")
        assert five <= 1.2 * alone
        nodes: list[Node] = box.nodes  # type: ignore[attr-defined]
        hub: Node = box.hub_node  # type: ignore[attr-defined]
        pub = box.current  # type: ignore[attr-defined]

        # -- reports through the hub: one TLS connection ----------------------------------
        _make_counts(box, nodes, "a")
        box.forget_connections()
        before, syns = box.report_bytes(), box.syn_packets()
        outputs = box.upload_now(nodes)
        assert all("holds the rest" in o for o in outputs), outputs
        wait_for(lambda: len(box.server_reports()) >= 5, 60, "the hub did not forward")
        time.sleep(2)  # the connection's closing packets
        via_hub = box.report_bytes() - before
        # The 5 reports in one connection (a SYN sent again after a loss is the same
        # connection: the box counts distinct source ports).
        assert box.connections() == 1
        print(
            f"reports of 5 kiosks through the hub: {via_hub} bytes, {via_hub / 5:.0f} per "
            f"kiosk ({box.syn_packets() - syns} SYN packets for 1 connection)"
        )
        # A kiosk-day's report on the uplink, the 1 % loss's retransmissions included:
        # ≈ 680 B (a round of ≈ 3.4 KB: no session tickets, one write per request). The
        # largest packet of a round is the batch request (≈ 1.05 KB), so one lost packet
        # and its retransmission still stay within the 1 KB per kiosk-day; the
        # code before measured 809-1,028 B (docs/BENCHMARKS.md).
        assert via_hub / 5 <= 1000

        # -- the console: a stopped kiosk is "not protected" within a minute -------------
        stopped = nodes[-1]
        pc = (stopped.state / "hub-pc.id").read_text().strip()[:6]
        assert not _stopped_shown(box, pc)
        box.stop(stopped)
        took = wait_for(
            lambda: _stopped_shown(box, pc),
            60,
            "the console did not show the stopped kiosk as not protected",
            every=2,
        )
        print(f"the console showed the stopped kiosk as not protected after {took:.0f} s")
        nodes = nodes[:-1]

        # -- the hub killed while it holds reports ---------------------------------------
        _make_counts(box, nodes, "b")
        outputs = box.upload_now(nodes)  # handed to the hub, which gathers for 10 s ...
        assert all("holds the rest" in o for o in outputs), outputs
        box.stop(hub, signal.SIGKILL)  # ... and dies first
        assert all(box.blocked(n, f"still.{BLOCKED}") for n in nodes)
        _reach_versions(box, nodes, pub.publish(), timeout=90)
        assert all(box.feed_state(n).get("direct_at") for n in nodes)
        box.forget_connections()
        before = box.report_bytes()
        box.upload_now(nodes)
        time.sleep(2)
        direct = box.report_bytes() - before
        # Each kiosk its own connection, exactly one each.
        assert box.connections() == len(nodes)
        print(f"reports sent directly: {direct / len(nodes):.0f} bytes per kiosk")
        assert via_hub / 5 < direct / len(nodes)
        # nothing lost, nothing counted twice: the server holds exactly what was counted
        for n in nodes:
            box.stop(n)  # the shutdown cut: everything counted is in a report
        # the stopped kiosk's report went through the hub before it stopped: it learns
        # the server's answer now (a "duplicate": counted once)
        box.upload_now([*nodes, stopped])
        server: dict[str, int] = {}
        for counts in box.server_reports().values():
            for name, k in counts.items():
                server[name] = server.get(name, 0) + k
        counted: dict[str, int] = {}
        for n in [*nodes, stopped]:
            for name, (flushed, acked) in outbox_counts(n).items():
                assert flushed == acked, (n.name, name, flushed, acked)
                counted[name] = counted.get(name, 0) + flushed
        assert server == counted

        # -- a rogue hub ------------------------------------------------------------------
        url = f"{SERVER}/feeds/{pub.list_id}"
        served = tmp_path / "rogue" / "hub" / "v1" / "feeds" / feed_key(url)
        served.mkdir(parents=True)
        region_dir = pub.folder / pub.list_id
        _rogue_files(served, region_dir, "replay")
        box.spawn(
            "rogue", "rogue", "-m", "tests.e2e.rogue_hub", str(tmp_path / "rogue"), ROGUE_IP, "8055"
        )
        for n in nodes:
            box.start(n)
        rogue_url = f"http://{ROGUE_IP}:8055"
        wait_for(
            lambda: all(_hub_of(box, n) == rogue_url for n in nodes),
            90,
            "the kiosks did not take the rogue for the hub",
            every=3,
        )
        for attack, reason in (("replay", "rollback"), ("other_key", "untrusted_key")):
            _rogue_files(served, region_dir, attack)
            version = pub.publish()
            _reach_versions(box, nodes, version, timeout=90)
            name = f"feeds.rejected.{reason}"
            wait_for(
                lambda name=name: all(day_count(n, name) >= 1 for n in nodes),
                30,
                f"{name} not counted",
            )
            for n in nodes:
                assert box.feed_state(n)["direct_at"] is not None
