"""`kiosk-agent doctor`: each check's verdicts from facts, then a temporary install (a real
service from the sources, on loopback) broken one way at a time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from installer.hidden_libs import hidden_shaping_command, system_shaping_libraries
from kiosk_agent.net.ports import free_port
from kiosk_agent.platform.browser_policies import BrowserGuardState
from kiosk_agent.service import doctor
from kiosk_agent.service.doctor import OK, PROBLEM, SKIPPED, Facts, evaluate
from tests.conftest import REPO_ROOT, cli_env, require, require_tool, run_cli
from tests.filter.feed_helpers import keypair

NOW = 1_780_000_000.0
FRESH = {"filter": {"lists": [{"list_id": "demo", "version": 3, "updated_at": NOW - 3600}]}}


def _healthy(**over: object) -> Facts:
    facts = Facts(
        now=NOW,
        service_status=FRESH,
        dns_answering=True,
        listen=["127.0.0.1:53"],
        manage_system_dns=True,
        agent_servers=["127.0.0.1"],
        system_dns=["127.0.0.1"],
        feeds_configured=1,
        clock_offset=0.4,
        desktop_sessions=1,
        ui_processes=2,
        server="https://region.example",
        free_bytes=10 * 2**30,
        state_dir="/var/lib/kiosk-agent",
        browsers=[
            BrowserGuardState("Chromium", True, "/etc/chromium/policies/managed"),
            BrowserGuardState("Firefox", True, "/etc/firefox/policies/policies.json"),
        ],
    )
    for key, value in over.items():
        setattr(facts, key, value)
    return facts


def _status(facts: Facts) -> dict[str, str]:
    return {c.name: c.status for c in evaluate(facts)}


def test_a_healthy_kiosk_is_all_well() -> None:
    checks = evaluate(_healthy())
    assert all(c.status == OK for c in checks), checks
    assert doctor.all_well(checks) and doctor.render(checks).endswith("All is well.")
    assert [c.name for c in checks] == [
        "service", "system DNS", "blocklist", "clock", "notice", "text shaping",
        "regional server", "disk space", "browser guard",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("over", "name", "words"),
    [
        ({"service_status": None, "service_error": "no token"}, "service", "not running"),
        ({"dns_answering": False}, "service", "does not answer"),
        ({"system_dns": ["192.0.2.53", "127.0.0.1"]}, "system DNS", "192.0.2.53"),
        ({"system_dns": []}, "system DNS", "nothing"),
        ({"system_dns": None, "system_dns_error": "denied"}, "system DNS", "denied"),
        ({"feeds_configured": 0}, "blocklist", "no blocklist feed"),
        ({"service_status": {"filter": {"lists": []}}}, "blocklist", "has been loaded yet"),
        (
            {"service_status": {"filter": {"lists": [{"updated_at": NOW - 5 * 86400}]}}},
            "blocklist",
            "5 days ago",
        ),
        ({"clock_offset": 7200.0}, "clock", "120 minutes behind"),
        ({"clock_offset": None, "now": 1_000_000_000.0}, "clock", "before 2025"),
        ({"ui_processes": 0}, "notice", "not running"),
        ({"shaping_available": False, "shaping_reason": "no fribidi"}, "text shaping", "Latin"),
        ({"server_error": "Connection refused"}, "regional server", "refused"),
        ({"free_bytes": 50 * 2**20}, "disk space", "50 MiB"),
        (
            {
                "browsers": [
                    BrowserGuardState("Firefox", True, "/etc/firefox/policies/policies.json"),
                    BrowserGuardState(
                        "Google Chrome",
                        False,
                        r"HKLM\SOFTWARE\Policies\Google\Chrome",
                        "no ExtensionInstallForcelist policy",
                    ),
                ]
            },
            "browser guard",
            "Google Chrome runs without the browser guard",
        ),
    ],
)
def test_each_problem_is_said_with_what_to_do(
    over: dict[str, object], name: str, words: str
) -> None:
    checks = {c.name: c for c in evaluate(_healthy(**over))}
    assert checks[name].status == PROBLEM and words in checks[name].message
    assert checks[name].fix
    assert not doctor.all_well(list(checks.values()))
    assert sum(c.status == PROBLEM for c in checks.values()) == 1 or name == "service"


def test_not_applicable_checks_are_skipped() -> None:
    status = _status(
        _healthy(manage_system_dns=False, desktop_sessions=0, server=None, free_bytes=None)
    )
    assert status["system DNS"] == status["notice"] == SKIPPED
    assert status["regional server"] == status["disk space"] == SKIPPED
    assert _status(_healthy(browsers=[]))["browser guard"] == SKIPPED  # no browser found
    unread = evaluate(_healthy(browsers=None, browsers_error="access denied"))
    assert "access denied" in next(c.message for c in unread if c.name == "browser guard")


def test_ui_processes_are_recognised() -> None:
    assert doctor.count_ui_processes([
        ["/opt/kiosk-agent/app-0.1.0-ab/kiosk-agent", "ui", "--config", "/etc/kiosk-agent/ui.yaml"],
        ["/usr/bin/python3", "-m", "kiosk_agent", "ui", "--no-restart"],
        ["C:\\Program Files\\kiosk-agent\\app-1\\kiosk-agent.exe", "ui"],
        ["/opt/kiosk-agent/kiosk-agent", "service"],
        ["/usr/bin/vim", "ui"],
        [],
    ]) == 3  # fmt: skip


# -- a temporary install, broken one way at a time --------------------------------------------

DEMO = REPO_ROOT / "config" / "demo"


def _trust() -> str:
    pub = (DEMO / "DEMO-feed-signing.pub").read_text()
    return next(line for line in pub.splitlines() if line.startswith("ed25519:"))


class Install:
    """A state folder, a DEMO feed, the service's config and the doctor's (which also
    names port 53 and manages the DNS of a prefix: the service must not touch this PC's)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        (self.root / "etc").mkdir(parents=True)
        self.dns_port, self.control_port = free_port(), free_port()
        listed = tmp / "DEMO-list.txt"
        listed.write_text("blocked-demo.test\n")
        self.bundle = tmp / "demo.bundle"
        built = run_cli([
            "feed", "build", "--key", str(DEMO / "DEMO-feed-signing.key"), "--list-id", "demo",
            "--version", "1", "--category", f"abuse={listed}", "--out", str(self.bundle),
        ])  # fmt: skip
        assert built.returncode == 0, built.stderr
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.service_config = self.config("service.yaml", manage=False)
        self.doctor_config = self.config("doctor.yaml", manage=True)
        self.point_dns_at("127.0.0.1")

    def config(self, name: str, *, manage: bool, feeds: bool = True, server: str = "") -> Path:
        port = self.server.getsockname()[1]
        # The doctor's config is not a demo one (a demo never manages the DNS), so it may
        # not trust the DEMO key: it names the same feed with another key (only counted).
        trust = keypair()[1] if manage else _trust()
        feed = f"[{{url: '{self.bundle.as_uri()}', trust: ['{trust}']}}]" if feeds else "[]"
        listen = f"['127.0.0.1:{self.dns_port}'" + (", '127.0.0.1:53']" if manage else "]")
        path = self.tmp / name
        path.write_text(
            ("" if manage else "demo: true\n") + f"state_dir: {self.tmp / 'state'}\n"
            "filter:\n"
            f"  listen: {listen}\n"
            "  upstreams: ['127.0.0.1:9']\n"
            f"  blockpage_listen: '127.0.0.1:{free_port()}'\n"
            f"  manage_system_dns: {'true' if manage else 'false'}\n"
            f"  feeds: {feed}\n"
            f"reporting: {{server: '{server or f'http://127.0.0.1:{port}'}'}}\n"
            f"control: {{listen: '127.0.0.1:{self.control_port}'}}\n"
        )
        return path

    def point_dns_at(self, *servers: str) -> None:
        (self.root / "etc/resolv.conf").write_text("".join(f"nameserver {s}\n" for s in servers))

    def doctor(self, config: Path | None = None, *wrap: str) -> tuple[int, dict[str, str]]:
        argv = [
            sys.executable, "-m", "kiosk_agent", "doctor", "--json", "--config",
            str(config or self.doctor_config), "--root", str(self.root),
        ]  # fmt: skip
        done = subprocess.run(
            [*wrap, *argv] if not wrap else hidden_shaping_command(argv, wrap[0]),
            capture_output=True, text=True, env=cli_env(), cwd=REPO_ROOT, timeout=120,
            check=False,
        )  # fmt: skip
        assert done.stdout, done.stderr
        result = json.loads(done.stdout)
        assert result["ok"] == (done.returncode == 0)
        return done.returncode, {c["name"]: c["status"] for c in result["checks"]}


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Install]:
    made = Install(tmp_path)
    yield made
    made.server.close()


@pytest.fixture
def running(install: Install) -> Iterator[Install]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_agent", "service", "--config", str(install.service_config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "running" in proc.stdout.readline()
        import time

        deadline = time.monotonic() + 30
        while install.doctor()[1]["blocklist"] != OK:  # the list is applied after start
            assert time.monotonic() < deadline, "the DEMO list was never loaded"
            time.sleep(0.3)
        yield install
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_doctor_on_a_working_install_then_broken_one_way_at_a_time(running: Install) -> None:
    code, status = running.doctor()
    for name in ("service", "system DNS", "blocklist", "clock", "text shaping", "regional server"):
        assert status[name] == OK, (name, status)
    assert status["disk space"] == OK
    # "notice" depends on who is logged in to this machine: OK, skipped or problem.
    assert code == (0 if status["notice"] != PROBLEM else 1)

    running.point_dns_at("192.0.2.53")  # someone changed the PC's DNS server
    assert running.doctor() == (1, {**status, "system DNS": PROBLEM})
    running.point_dns_at("127.0.0.1")

    no_feed = running.config("nofeed.yaml", manage=True, feeds=False)
    assert running.doctor(no_feed)[1]["blocklist"] == PROBLEM

    closed = f"http://127.0.0.1:{free_port()}"
    unreachable = running.config("noserver.yaml", manage=True, server=closed)
    assert running.doctor(unreachable)[1]["regional server"] == PROBLEM

    clock = running.tmp / "state" / "clock.json"
    clock.write_text(json.dumps({"offset_seconds": -7200.0, "saved_at": 0, "corrections": {}}))
    assert running.doctor()[1]["clock"] == PROBLEM
    clock.unlink()

    # Text shaping: the doctor itself run where the system's shaping libraries are hidden.
    if sys.platform == "linux" and os.geteuid() == 0 and system_shaping_libraries():
        require_tool("unshare")
        empty = running.tmp / "empty"
        empty.write_bytes(b"")
        assert running.doctor(None, str(empty))[1]["text shaping"] == PROBLEM
    else:
        require(False, "hiding the shaping libraries needs root and unshare")


def test_doctor_without_the_service(install: Install) -> None:
    code, status = install.doctor()
    assert code == 1 and status["service"] == PROBLEM and status["blocklist"] == SKIPPED


def test_doctor_on_a_full_disk(install: Install) -> None:
    """The state folder on a 2 MB file system (a tmpfs in a private mount namespace)."""
    require(sys.platform == "linux" and os.geteuid() == 0, "mounting a tmpfs needs root")
    unshare = require_tool("unshare")
    small = install.tmp / "small"
    small.mkdir()
    config = install.config("small.yaml", manage=True)
    config.write_text(config.read_text().replace(str(install.tmp / "state"), str(small / "state")))
    argv = [sys.executable, "-m", "kiosk_agent", "doctor", "--json", "--config", str(config),
            "--root", str(install.root)]  # fmt: skip
    done = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs -o size=2m tmpfs {small} && exec \"$@\"", "sh", *argv],
        capture_output=True, text=True, env=cli_env(), cwd=REPO_ROOT, timeout=120, check=False,
    )  # fmt: skip
    result = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert result["disk space"]["status"] == PROBLEM, result["disk space"]
    assert done.returncode == 1
