"""Real regional server and kiosk service processes: a content pack reaches a running
kiosk without a restart, a bad pack is refused and counted, a region's overlay arrives
at enrollment (issue 21)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiosk_agent.config import HostPort
from kiosk_agent.content import active, pack
from kiosk_agent.contracts import signed
from kiosk_agent.demo.run import agent_config, have_module
from kiosk_agent.demo.upstream import DemoUpstream
from kiosk_agent.net.ports import free_port
from tests.conftest import cli_env, require

pytestmark = pytest.mark.slow

NEW_TITLE = "This page is blocked (pack 2)"
NEW_HELPLINE = "1190"


class World:
    """A server and a kiosk service in subprocesses, in one temporary folder."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = cli_env() | {
            "KIOSK_SERVER_DATA": str(tmp / "server"),
            "KIOSK_SERVER_DB": f"sqlite:///{tmp / 'server' / 'server.sqlite'}",
            "PYTHONUNBUFFERED": "1",
        }
        (tmp / "server").mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[Any] = []

    def run(
        self,
        *argv: str,
        module: str = "kiosk_agent",
        stdin: str | None = None,
        codes: tuple[int, ...] = (0,),
    ) -> str:
        done = subprocess.run(
            [sys.executable, "-m", module, *argv], capture_output=True, text=True,
            env=self.env, timeout=120, input=stdin, cwd=self.tmp, check=False,
        )  # fmt: skip
        assert done.returncode in codes, f"{argv}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def server(self, *argv: str) -> str:
        return self.run(*argv, module="regional_server")

    def spawn(self, name: str, *argv: str, module: str = "kiosk_agent") -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.files.append(log)
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", module, *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.tmp,
                start_new_session=True,
            )
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        for f in self.files:
            f.close()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log")
        )

    def keygen(self, name: str) -> tuple[Path, str]:
        path = self.tmp / f"{name}.pem"
        out = self.run("feed", "keygen", "--out", str(path))
        return path, out.strip().splitlines()[-1].strip()


def wait_for(what: str, check: Callable[[], bool], world: World, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in {within} s\n{world.logs()}"
        time.sleep(0.5)


def get(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as r:
            return str(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:  # the block page answers 403
        return str(e.read().decode("utf-8"))
    except OSError:
        return ""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    for module in ("regional_server.cli", "kiosk_agent.commands.service_cmd"):
        require(have_module(module), f"{module} is not in this checkout")
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.stop()


def edited_pack_folder(tmp: Path) -> Path:
    folder = tmp / "pack"
    shutil.copytree(active.BUILTIN_DIR / "locales", folder / "locales")
    shutil.copy(active.BUILTIN_DIR / "countries.yaml", folder / "countries.yaml")
    en = folder / "locales" / "en.yaml"
    text = en.read_text("utf-8")
    en.write_text(text.replace('title: "This page is blocked"', f'title: "{NEW_TITLE}"'), "utf-8")
    countries = folder / "countries.yaml"
    text = countries.read_text("utf-8")
    assert 'number: "116"' in text
    countries.write_text(text.replace('number: "116"', f'number: "{NEW_HELPLINE}"', 1), "utf-8")
    return folder


def publish_pack(world: World, tmp: Path, key: Path, version: int, mark: str) -> None:
    """A pack whose English block page title ends with ``(mark)``, signed with ``key``."""
    folder = edited_pack_folder(tmp / f"pack-{version}")
    en = folder / "locales" / "en.yaml"
    en.write_text(en.read_text("utf-8").replace(NEW_TITLE, f"Blocked ({mark})"), "utf-8")
    out = tmp / f"content-{version}.signed"
    world.run("content", "build", str(folder), "--key", str(key), "--version", str(version),
              "--out", str(out))  # fmt: skip
    world.server("publish-content", str(out))


def reporting_status(world: World, config: Path) -> dict[str, Any]:
    status = json.loads(world.run("status", "--json", "--config", str(config), codes=(0, 2)))
    reporting: dict[str, Any] = status["components"]["reporting"]
    return reporting


def counts(world: World, config: Path) -> str:
    return world.run("report", "show", "--json", "--config", str(config))


def test_content_pack_and_overlay_reach_a_running_kiosk(world: World) -> None:
    tmp = world.tmp
    content_key, content_pub = world.keygen("content")
    settings_key, settings_pub = world.keygen("settings")
    _root_key, root_pub = world.keygen("root")

    world.server("init-db")
    world.server("create-region", "KE-NBO", "Nairobi", "--country", "KE")
    code = world.server("create-enrollment-code", "--region", "KE-NBO").strip().splitlines()[-1]
    overlay = tmp / "overlay.yaml"
    settings = {"cafe": {"languages": ["sw", "en"]}, "reporting": {"offpeak": "01:00-05:00"}}
    overlay.write_text(yaml.safe_dump(settings))
    overlay_file = tmp / "settings-1.signed"
    world.run(
        "settings", "build", str(overlay), "--region", "KE-NBO", "--key", str(settings_key),
        "--version", "1", "--out", str(overlay_file),
    )  # fmt: skip
    world.server("publish-settings", str(overlay_file), "--trust", settings_pub)
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    world.spawn("server", "serve", "--host", "127.0.0.1", "--port", str(port),
                module="regional_server")  # fmt: skip
    wait_for("the server", lambda: "csrf" in get(f"{server}/login"), world)

    upstream = DemoUpstream().start()
    try:
        blockpage = free_port()
        data: dict[str, Any] = agent_config(
            tmp, resolver=HostPort("127.0.0.1", free_port()), upstream=upstream.address,
            control_port=free_port(), blockpage_port=blockpage, server=server, trust=None,
        )  # fmt: skip
        data["cafe"]["languages"] = ["en"]
        data["filter"]["block_answer"] = "sinkhole"
        data["reporting"]["offpeak"] = "22:00-06:00"
        # No reporting server: the counts stay on the kiosk, where `report show` reads
        # them (the updates URLs are given instead of derived from it).
        data["reporting"]["server"] = None
        data["updates"] = {
            "content": {"url": f"{server}/feeds/content", "trust": [content_pub]},
            "settings": {"url": f"{server}/feeds/settings-KE-NBO", "trust": [settings_pub]},
            "keys": {"url": f"{server}/feeds/keys", "roots": [root_pub]},
            "check_every": "10s",
        }
        config = tmp / "agent.yaml"
        config.write_text(yaml.safe_dump(data))
        out = world.run("enroll", "--config", str(config), "--server", server, "--code", code)
        assert "Applied the region's settings (overlay version 1)" in out, out
        shown = world.run("config", "show", "--config", str(config))
        offpeak = r'reporting\.offpeak\s+"01:00-05:00"\s+# overlay settings-KE-NBO v1'
        assert re.search(offpeak, shown), shown
        assert re.search(r'cafe\.languages\s+\["sw", "en"\]\s+# overlay', shown), shown
        assert re.search(r"cafe\.name\s+.*# agent\.yaml", shown), shown

        world.spawn("service", "service", "--config", str(config))
        page = f"http://127.0.0.1:{blockpage}/?lang=en"
        wait_for("the block page", lambda: "This page is blocked" in get(page), world)
        assert NEW_TITLE not in get(page)

        pack_file = tmp / "content-2.signed"
        world.run(
            "content", "build", str(edited_pack_folder(tmp)), "--key", str(content_key),
            "--version", "2", "--out", str(pack_file),
        )  # fmt: skip
        world.server("publish-content", str(pack_file), "--trust", content_pub)
        wait_for("the new pack on the running kiosk", lambda: NEW_TITLE in get(page), world)
        assert NEW_HELPLINE in get(page)
        service = world.procs[-1]
        assert service.poll() is None  # the same service process: no restart

        # A new overlay changes the upload window and the languages of the running
        # service (no restart); the P2P policy it also changes waits for the next start.
        assert 'href="?lang=pt"' not in get(page)
        assert reporting_status(world, config)["upload_window"] == "01:00-05:00"
        settings2 = {
            "cafe": {"languages": ["pt", "en"]},
            "reporting": {"offpeak": "02:00-04:00"},
            "filter": {"p2p": {"policy": "block"}},
        }
        overlay.write_text(yaml.safe_dump(settings2))
        overlay2 = tmp / "settings-2.signed"
        world.run(
            "settings", "build", str(overlay), "--region", "KE-NBO", "--key", str(settings_key),
            "--version", "2", "--out", str(overlay2),
        )  # fmt: skip
        world.server("publish-settings", str(overlay2), "--trust", settings_pub)
        wait_for(
            "the new languages on the block page", lambda: 'href="?lang=pt"' in get(page), world
        )
        status = world.run("status", "--json", "--config", str(config), codes=(0, 2))
        components = json.loads(status)["components"]
        assert components["reporting"]["upload_window"] == "02:00-04:00"
        updates = components["updates"]
        assert updates["settings_live_keys"] == ["cafe.languages", "reporting.offpeak"]
        assert updates["settings_restart_keys"] == ["filter.p2p.policy"]
        assert updates["settings_overlay_pending_restart"] is True
        assert service.poll() is None

        # A pack that fails the content checks, with a good signature: refused, counted.
        from kiosk_agent.contracts.private_key import load_private_key

        now = int(time.time())
        files = pack.collect(edited_pack_folder(tmp / "bad"))
        broken = {k: v for k, v in files.locales.items() if k != "sw"}
        bad = tmp / "content-3.signed"
        bad.write_bytes(
            signed.encode_signed(
                key=load_private_key(content_key), kind="content", issuer="x",
                subject="content", version=3, created=now, expires=now + 86400,
                body=pack.encode_body(pack.PackFiles(broken, files.countries)),
            )
        )  # fmt: skip
        world.server("publish-content", str(bad))
        wait_for(
            "the refusal counted",
            lambda: "content.rejected.invalid" in counts(world, config),
            world,
        )
        assert NEW_TITLE in get(page)  # the last good pack stays
        assert service.poll() is None

        # Keys: a forged announcement is refused; a rotation signed by the content key
        # and a recovery signed by the region's root are accepted, and packs signed by
        # the new keys reach the running kiosk.
        thief_key, thief_pub = world.keygen("thief")
        rotated_key, rotated_pub = world.keygen("rotated")
        recovered_key, recovered_pub = world.keygen("recovered")
        steps = [
            (thief_key, ["--replace", content_pub, "--new", thief_pub]),
            (content_key, ["--replace", content_pub, "--new", rotated_pub]),
        ]
        for version, (signer, what) in enumerate(steps, start=1):
            announcement = tmp / f"keys-{version}.signed"
            world.run("keys", "announce", *what, "--key", str(signer), "--version", str(version),
                      "--out", str(announcement))  # fmt: skip
            world.server("publish-keys", str(announcement))
        publish_pack(world, tmp, rotated_key, 4, "rotated")
        wait_for("a pack signed by the rotated key", lambda: "(rotated)" in get(page), world)
        # Counts reach the outbox at the next flush (every second here).
        for name in ("keys.rejected.bad_chain", "keys.changed.rotation"):

            def counted(n: str = name) -> bool:
                return n in counts(world, config)

            wait_for(f"{name} counted", counted, world, 30)

        recovery = tmp / "keys-3.signed"
        world.run("keys", "announce", "--replace", rotated_pub, "--new", recovered_pub,
                  "--key", str(_root_key), "--version", "3", "--out", str(recovery))  # fmt: skip
        world.server("publish-keys", str(recovery))
        publish_pack(world, tmp, recovered_key, 5, "recovered")
        wait_for("a pack signed by the recovered key", lambda: "(recovered)" in get(page), world)
        wait_for(
            "the recovery counted",
            lambda: "keys.changed.recovery" in counts(world, config),
            world,
            30,
        )
        assert service.poll() is None
    finally:
        upstream.stop()
