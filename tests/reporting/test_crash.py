"""Kill -9 at random moments, 200 times: the server's totals equal the counts flushed.

A real server process (the stand-in) and child processes that count, flush, cut and
upload; each child is killed with SIGKILL after a random delay (in a flush's fsync, a
cut's transaction, an upload's request or its acknowledgement). Then one last child
drains the outbox. Nothing flushed may be lost, and nothing counted twice.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk_agent.reporting.identity import enroll
from kiosk_agent.reporting.outbox import Outbox
from tests.conftest import REPO_ROOT, cli_env
from tests.reporting import crash_child

KILLS = 200


@pytest.fixture
def server_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reporting.report_server", "--code", "CRASH"],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO_ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    try:
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        proc.stdout.close()


def _server_totals(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/test/totals", timeout=10) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


def _set_mode(url: str, mode: str) -> None:
    request = urllib.request.Request(
        url + "/test/mode", data=json.dumps({"mode": mode}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200


def _wait_for(path: Path, word: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and word in path.read_text():
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_and_doubles_nothing(
    tmp_path: Path, server_url: str
) -> None:
    state = tmp_path / "state"
    with requests.Session() as session:
        enroll(state, server_url, "CRASH", session, now=time.time())
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.reporting.crash_child"])
    rng = random.Random(20261127)
    max_confirmed = 0
    cut_uploads = 0  # kills that landed inside an upload round
    finished_uploads = 0  # children that finished at least one round before the kill
    for cycle in range(KILLS):
        # A stretch where the server stores but the answer is lost (ambiguous: retried
        # under the same id), and one where it refuses everything (reports pile up past
        # max_reports and get merged).
        modes = {0: "ok", 60: "store_then_500", 100: "unauthorized", 150: "ok"}
        if cycle in modes:
            _set_mode(server_url, modes[cycle])
        log = tmp_path / f"cycle-{cycle}.log"
        child = ctx.Process(
            target=crash_child.run_child, args=(str(state), server_url, cycle, str(log))
        )
        child.start()
        assert _wait_for(log, "READY", 30), f"cycle {cycle}: child did not start"
        # A third of the kills land anywhere after start (flushes, cuts), a third soon
        # after an upload round began, a third after one ended. Waiting for the markers
        # keeps upload rounds cut on a loaded machine, where a child may not reach its
        # first round within a fixed random window.
        where = rng.choice(("anywhere", "UPLOADING", "UPLOADED"))
        if where != "anywhere":
            assert _wait_for(log, where, 30), f"cycle {cycle}: no {where}"
        time.sleep(rng.uniform(0.0, 0.05 if where == "UPLOADING" else 0.25))
        child.kill()
        child.join(10)
        assert child.exitcode == -signal.SIGKILL, f"cycle {cycle}: child ended by itself"
        markers = [m for m in log.read_text().split() if m.startswith("UPLOAD")]
        if markers and markers[-1] == "UPLOADING":
            cut_uploads += 1
        finished_uploads += "UPLOADED" in markers
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "FLUSHED" and parts[1].isdigit():
                max_confirmed = max(max_confirmed, int(parts[1]))
    # Last run, not killed: send what is left.
    drainer = ctx.Process(target=crash_child.drain, args=(str(state), server_url))
    drainer.start()
    drainer.join(120)
    assert drainer.exitcode == 0

    outbox = Outbox.in_state_dir(state)
    try:
        assert outbox.integrity_ok()
        assert outbox.report_count() == 0 and outbox.pending() == {}
        totals = outbox.totals()
    finally:
        outbox.close()
    server = _server_totals(server_url)
    flushed = {name: f for name, (f, _) in totals.items()}
    acknowledged = {name: a for name, (_, a) in totals.items()}
    assert server["counts"] == flushed  # nothing lost, nothing doubled
    assert acknowledged == flushed
    assert sum(flushed.values()) >= max_confirmed > 0  # every confirmed flush survived
    assert cut_uploads >= 10  # the kills really interrupted uploading work
    assert finished_uploads >= 10 and server["reports"] >= finished_uploads / 2
    assert server["duplicates"] > 0  # ambiguous failures were retried under the same id
    assert any(m > 1 for m in server["merged"])  # the bound merged reports, visibly
    print(
        f"\n{KILLS} kills: {sum(flushed.values())} counts flushed, "
        f"{cut_uploads} upload rounds cut, {server['reports']} reports stored, "
        f"{server['duplicates']} duplicates refused, "
        f"merged: {sum(1 for m in server['merged'] if m != 1)}"
    )
