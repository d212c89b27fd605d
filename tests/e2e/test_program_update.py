"""Real regional server and kiosk service processes: a program release is downloaded,
verified, tried, switched to and counted; one that does not answer DNS is rolled back
(issue 21).

Releases A and B are real one-file programs built with installer/build.sh
(tests/program_builds.py, shared with tests/installer/test_executable.py): A is the
checkout's version, B the same tree built as the next minor version
(``KIOSK_BUILD_VERSION``). The broken release C is a small stand-in: a PyInstaller PKG
archive (``installer/carchive.py``) whose one-folder launcher is a shell script whose
``service`` never answers. A real build cannot be made to hang without a fault switch in
the product, and a third build would cost CI minutes; the rollback depends only on the
candidate not answering DNS, which the stand-in does (docs/fleet.md says so).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiosk_agent.config import HostPort
from kiosk_agent.contracts import release as release_contract
from kiosk_agent.demo.run import DEMO_PIN, agent_config, have_module
from kiosk_agent.demo.upstream import DemoUpstream
from kiosk_agent.installer import release
from kiosk_agent.installer.carchive import Entry, build_archive
from kiosk_agent.net.dns_probe import answers, resolve
from kiosk_agent.net.ports import free_port
from tests.conftest import REPO_ROOT, require
from tests.e2e.test_signed_updates import World, get, wait_for

pytestmark = pytest.mark.slow

SUPERVISOR = Path(__file__).with_name("service_supervisor.py")


def standin_program(path: Path, version: str, *, answers_dns: bool = True) -> Path:
    """A one-file program (PKG archive with a one-folder launcher) that runs this
    checkout as ``version``; with ``answers_dns=False`` its ``service`` never answers."""
    code = (
        "import sys, kiosk_agent; "
        f"kiosk_agent.__version__ = {version!r}; "
        "from kiosk_agent.cli import main; sys.exit(main())"
    )
    broken = "" if answers_dns else 'case "$1" in service) exec sleep 3600;; esac\n'
    launcher = (
        "#!/bin/sh\n"
        f"# kiosk-agent {version} (a test stand-in for the PyInstaller launcher)\n"
        f"{broken}"
        f"PYTHONPATH={shlex.quote(str(REPO_ROOT))} "
        f'exec {shlex.quote(sys.executable)} -c {shlex.quote(code)} "$@"\n'
    ).encode()

    def entry(name: str, code: str, data: bytes) -> Entry:
        return Entry(name, code, zlib.compress(data), len(data), True)

    pkg = build_archive(
        [
            entry("kiosk_agent_main", "s", b"pretend entry script"),
            entry("VERSION", "x", version.encode()),
            entry("kiosk-agent-launcher/kiosk-agent", "x", launcher),
            Entry("pyi-contents-directory _internal", "o", b"", 0, False),
        ],
        311,
        b"libpython3.11.so.1.0",
    )
    path.write_bytes(b"\x7fELF stand-in bootloader\n" + pkg)
    return path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    for module in ("regional_server.cli", "kiosk_agent.commands.update_cmd"):
        require(have_module(module), f"{module} is not in this checkout")
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.stop()


def status(world: World, config: Path) -> dict[str, Any]:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "kiosk_agent", "status", "--json", "--config", str(config)],
        capture_output=True, text=True, env=world.env, timeout=60, check=False,
    )  # fmt: skip
    # 2: "not protected" (no blocklist feed in this test); the JSON is there all the same.
    assert done.returncode in (0, 2), done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def subprocess_status_text(world: World, config: Path) -> str:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "kiosk_agent", "status", "--config", str(config)],
        capture_output=True, text=True, env=world.env, timeout=60, check=False,
    )  # fmt: skip
    return done.stdout


def release_status(world: World, config: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "program_version" in node and "release" in node:
                found.update(node)
            for v in node.values():
                walk(v)

    walk(status(world, config))
    return found


class Gaps:
    """Polls the resolver every 0.1 s in a thread; the longest time without an answer."""

    def __init__(self, address: HostPort) -> None:
        import threading

        self.address = address
        self.samples: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import time

        while not self._stop.is_set():
            self.samples.append((time.monotonic(), answers(self.address, timeout=0.2) is not None))
            self._stop.wait(0.1)

    def longest(self) -> float:
        """Seconds of the longest run without an answer so far; starts a new window."""
        worst, since = 0.0, None
        for t, ok in self.samples:
            if not ok and since is None:
                since = t
            elif ok and since is not None:
                worst, since = max(worst, t - since), None
        self.samples = []
        return worst

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


DEMO_KEY = REPO_ROOT / "config" / "demo" / "DEMO-feed-signing.key"


def _demo_trust() -> str:
    pub = (REPO_ROOT / "config" / "demo" / "DEMO-feed-signing.pub").read_text()
    return next(line for line in pub.splitlines() if line.startswith("ed25519:"))


def _service_exe(supervisor_dir: Path) -> str:
    """The file the supervised service runs from (its pid's /proc exe link)."""
    try:
        pid = int((supervisor_dir / "running").read_text())
        return os.readlink(f"/proc/{pid}/exe")
    except (OSError, ValueError):
        return ""


def test_a_real_build_is_applied_and_a_broken_one_rolled_back(
    world: World, executable: Path, executable_next: Path
) -> None:
    """Release A: the session's build of the checkout (``kiosk_agent.__version__``),
    installed as `install` leaves it. Release B: the same tree built as the next minor
    version (KIOSK_BUILD_VERSION). C: a stand-in whose service never answers."""
    from kiosk_agent import __version__ as version_a
    from tests.program_builds import next_version

    version_b, version_c = next_version(version_a), next_version(version_a, 2)
    tmp = world.tmp
    key, pub = world.keygen("release")
    world.server("init-db")
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    world.spawn("server", "serve", "--host", "127.0.0.1", "--port", str(port),
                module="regional_server")  # fmt: skip
    wait_for("the server", lambda: "csrf" in get(f"{server}/login"), world)

    # The kiosk as `install` leaves it: release A unpacked, the stable command on it.
    program_dir = tmp / "opt"
    staged = release.install_release(
        executable, program_dir, release.new_release_name(version_a), "kiosk-agent"
    )
    release.point_command_at(program_dir, staged.name, "kiosk-agent")
    command = program_dir / "kiosk-agent"
    # The frozen programs run without this checkout on their path.
    frozen_env = {k: v for k, v in world.env.items() if k not in ("PYTHONPATH", "DISPLAY")}

    # A DEMO list from a file, so each program's service shows blocked and allowed names.
    listed = tmp / "DEMO-list.txt"
    listed.write_text("blocked-demo.test\n")
    bundle = tmp / "demo.bundle"
    world.run("feed", "build", "--key", str(DEMO_KEY), "--list-id", "demo", "--version", "1",
              "--category", f"abuse={listed}", "--out", str(bundle))  # fmt: skip

    upstream = DemoUpstream().start()
    try:
        resolver = HostPort("127.0.0.1", free_port())
        data: dict[str, Any] = agent_config(
            tmp, resolver=resolver, upstream=upstream.address, control_port=free_port(),
            blockpage_port=free_port(), server=server, trust=None,
        )  # fmt: skip
        data["reporting"]["server"] = None
        data["filter"]["feeds"] = [{"url": bundle.as_uri(), "trust": [_demo_trust()]}]
        supervisor_dir = tmp / "supervisor"
        manage = [sys.executable, str(SUPERVISOR)]
        data["updates"] = {
            "release": {
                "url": f"{server}/feeds/releases",
                "trust": [pub],
                "program_dir": str(program_dir),
                "service": "command",
                "stop_command": [*manage, "stop", str(supervisor_dir)],
                "start_command": [*manage, "start", str(supervisor_dir)],
                "health_timeout": "20s",
            },
            "check_every": "10s",
        }
        config = tmp / "agent.yaml"
        config.write_text(yaml.safe_dump(data))
        _spawn_script(world, "supervisor", str(SUPERVISOR), "run", str(supervisor_dir), "--",
                      str(command), "service", "--config", str(config), env=frozen_env)  # fmt: skip
        wait_for(f"DNS from {version_a}", lambda: answers(resolver) is not None, world, 120)
        assert release_status(world, config)["program_version"] == version_a
        assert _service_exe(supervisor_dir).startswith(str(program_dir / staged.name))
        _blocks_and_allows(resolver, world)
        gaps = Gaps(resolver)

        # B: published, downloaded, verified, tried, switched to, counted.
        started = time.monotonic()
        out = world.server(
            "publish-release", str(executable_next), "--version", version_b, "--key", str(key),
            "--trust", pub,
        )  # fmt: skip
        assert f"published release release version {version_b}" in out, out

        def runs(version: str) -> bool:
            try:
                got = release_status(world, config)
                # "idle": the switch is over (during the trial the candidate answers too).
                return bool(got["program_version"] == version and got["release"]["phase"] == "idle")
            except (AssertionError, ValueError, KeyError):
                return False

        wait_for(f"{version_b} answering", lambda: runs(version_b), world, 300)
        applied_seconds = time.monotonic() - started
        applied_gap = gaps.longest()
        text = subprocess_status_text(world, config)
        assert f"Program version {version_b}." in text, text
        assert _run_command(command, "--version", env=frozen_env).strip() == (
            f"kiosk-agent {version_b}"
        )
        (release_b,) = [p.name for p in program_dir.glob(f"app-{version_b}-*")]
        assert _service_exe(supervisor_dir).startswith(str(program_dir / release_b))
        _blocks_and_allows(resolver, world)
        wait_for("updates.applied counted",
                 lambda: "updates.applied" in world.run("report", "show", "--json",
                                                        "--config", str(config)),
                 world, 60)  # fmt: skip

        # C never answers DNS: tried, refused, the service runs B again.
        broken = standin_program(tmp / f"kiosk-agent-{version_c}", version_c, answers_dns=False)
        started = time.monotonic()
        world.server("publish-release", str(broken), "--version", version_c, "--key", str(key))
        number = release_contract.version_number(version_c)

        def refused() -> bool:
            try:
                return number in release_status(world, config)["release"]["bad"]
            except (AssertionError, ValueError, KeyError):
                return False

        wait_for(f"{version_c} refused", refused, world, 180)
        wait_for(f"{version_b} answering again", lambda: runs(version_b), world, 120)
        rollback_seconds = time.monotonic() - started
        rollback_gap = gaps.longest()
        gaps.stop()
        # docs/BENCHMARKS.md: how long the PC resolves nothing during a switch.
        print(
            f"\nreal builds: {version_b} applied {applied_seconds:.0f} s after publishing, "
            f"DNS gap {applied_gap:.1f} s; {version_c} rolled back {rollback_seconds:.0f} s "
            f"after publishing, DNS gap {rollback_gap:.1f} s"
        )
        # An applied switch: two starts of the installed program (about 1 s measured); a
        # rollback: the health bound, plus stopping and starting.
        assert applied_gap < 15 and rollback_gap < 20 + 15
        assert _run_command(command, "--version", env=frozen_env).strip() == (
            f"kiosk-agent {version_b}"
        )
        assert _service_exe(supervisor_dir).startswith(str(program_dir / release_b))
        _blocks_and_allows(resolver, world)
        wait_for("updates.rolled_back counted",
                 lambda: "updates.rolled_back" in world.run("report", "show", "--json",
                                                            "--config", str(config)),
                 world, 60)  # fmt: skip

        # The operator postpones the next update with the PIN.
        out = world.run("update", "postpone", "--pin-stdin", "--config", str(config),
                        stdin=DEMO_PIN + "\n")  # fmt: skip
        assert "postponed until" in out
        assert release_status(world, config)["release"]["postponed_until"] is not None
    finally:
        upstream.stop()


def _blocks_and_allows(resolver: HostPort, world: World) -> None:
    """The running service resolves an allowed name and blocks a listed one (the list is
    applied in the background after the resolver answers, so the block is waited for)."""
    assert resolve(resolver, "news.example") == (0, ["192.0.2.10"])
    # The upstream has a record for this listed name: NXDOMAIN means the kiosk blocked it.
    wait_for("the DEMO list applied",
             lambda: resolve(resolver, "bad-pictures.blocked-demo.test") == (3, []),
             world, 60)  # fmt: skip


def _spawn_script(world: World, name: str, *argv: str, env: dict[str, str] | None = None) -> None:
    import subprocess

    log = (world.tmp / f"{name}.log").open("wb")
    world.files.append(log)
    world.procs.append(
        subprocess.Popen(
            [sys.executable, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=world.env if env is None else env,
            cwd=world.tmp,
            start_new_session=True,
        )
    )


def _run_command(command: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    """The stable command's output (it must succeed)."""
    import subprocess

    done = subprocess.run(
        [str(command), *argv], capture_output=True, text=True, timeout=60, check=False,
        env=dict(os.environ) if env is None else env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout
