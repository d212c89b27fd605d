from __future__ import annotations

import dataclasses
import json
import stat
import zipfile
from pathlib import Path

import pytest
import yaml

from kiosk_agent.config import load_config
from kiosk_agent.errors import UserError
from kiosk_agent.installer.answers import Answers
from kiosk_agent.installer.carchive import read_archive
from kiosk_agent.installer.steps import Installer
from kiosk_agent.installer.uninstall import Uninstaller
from kiosk_agent.platform.base import CommandResult, DnsSnapshot
from kiosk_agent.platform.browser_policies import load_policy
from kiosk_agent.platform.saved_dns import load_snapshot
from kiosk_agent.service.pin import verify_pin
from tests.installer.fakes import (
    FAKE_FILES,
    FAKE_LAUNCHER,
    FakeDns,
    fake_onefile,
    linux_platform,
    live_layout,
)
from tests.platform.fake_runner import FakeRunner

ANSWERS = Answers(
    cafe_name="Sunrise Net Café",
    country="KE",
    region="KE-NBO",
    languages=("sw", "en"),
    language="sw",
    pin="4821",
    server="https://region.example.org",
    enrollment_code="ABCD-2345",
)
BEFORE = DnsSnapshot("resolv.conf", ("192.0.2.53",))


def _program(tmp_path: Path) -> Path:
    return fake_onefile(tmp_path / "downloads" / "kiosk-agent")


def _release(root: Path) -> Path:
    """The one release folder under /opt/kiosk-agent."""
    (found,) = (root / "opt/kiosk-agent").glob("app-*")
    return found


def _installer(tmp_path: Path, runner: FakeRunner, dns: FakeDns, **kw: object) -> Installer:
    said: list[str] = []
    return Installer(
        layout=live_layout(tmp_path / "root"),
        services=linux_platform(runner),
        dns=dns,
        runner=runner,
        say=said.append,
        program=_program(tmp_path) if not (tmp_path / "downloads").exists() else None,
        wait_for_resolver=lambda hp: 0.2,
        **kw,  # type: ignore[arg-type]
    )


def test_install_writes_everything_and_runs_the_commands(tmp_path: Path) -> None:
    runner = FakeRunner()
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, runner, dns)
    said: list[str] = []
    inst.say = said.append
    inst.install(ANSWERS)
    root = tmp_path / "root"

    # The program is laid out unpacked: launcher, its archive, the contents folder.
    release = _release(root)
    exe = release / "kiosk-agent"
    assert exe.read_bytes() == FAKE_LAUNCHER
    assert exe.stat().st_mode & 0o777 == 0o755
    archive = read_archive(release / "kiosk-agent.pkg")
    assert not archive.is_onefile  # the bootloader runs it without unpacking
    assert "pyi-contents-directory _internal" in archive.options
    for name, (_code, data) in FAKE_FILES.items():
        assert (release / "_internal" / name).read_bytes() == data
    assert (release / "_internal/libfoo.so.1").resolve() == release / "_internal/libfoo.so.1.0"
    assert not (release / "_internal/kiosk-agent-launcher").exists()
    # /opt/kiosk-agent/kiosk-agent runs the current release, for the operator.
    assert (root / "opt/kiosk-agent/kiosk-agent").resolve() == exe
    unit = (root / "etc/systemd/system/kiosk-agent.service").read_text()
    assert f"ExecStart=/opt/kiosk-agent/{release.name}/kiosk-agent service" in unit
    config_file = root / "etc/kiosk-agent/agent.yaml"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    config = load_config(config_file)
    assert config.filter.manage_system_dns is True
    assert config.state_dir == Path("/var/lib/kiosk-agent")
    assert config.cafe.languages == ("sw", "en")
    assert verify_pin("4821", config.operator.pin_scrypt)
    assert "4821" not in config_file.read_text()
    ui = yaml.safe_load((root / "etc/kiosk-agent/ui.yaml").read_text())
    assert "operator" not in ui
    assert stat.S_IMODE((root / "etc/kiosk-agent/ui.yaml").stat().st_mode) == 0o644
    assert (root / "etc/systemd/system/kiosk-agent.service").is_file()
    assert (root / "etc/xdg/autostart/kiosk-agent-ui.desktop").is_file()
    assert load_snapshot(root / "var/lib/kiosk-agent") == BEFORE
    assert dns.pointed == [["127.0.0.1"]]
    # the restart is noted as the operator's: not counted as tamper.service_stopped
    assert (root / "var/lib/kiosk-agent/operator-stop.json").is_file()
    # the browser guard: the extension for Firefox, the browsers' policies, what the
    # watchdog keeps (docs/browser-guard.md)
    xpi = root / "opt/kiosk-agent/browser-guard.xpi"
    with zipfile.ZipFile(xpi) as z:
        assert "manifest.json" in z.namelist() and "src/urls.js" in z.namelist()
    assert (root / "etc/chromium/policies/managed/kiosk-agent-browser-guard.json").is_file()
    firefox = json.loads((root / "etc/firefox/policies/policies.json").read_text())
    guard = firefox["policies"]["ExtensionSettings"]["browser-guard@kiosk-agent.example"]
    assert guard == {
        "installation_mode": "force_installed",
        "install_url": "file:///opt/kiosk-agent/browser-guard.xpi",
    }
    saved = load_policy(root / "var/lib/kiosk-agent")
    assert saved is not None and saved.firefox_install_url == guard["install_url"]

    exe_path = f"/opt/kiosk-agent/{release.name}/kiosk-agent"
    assert runner.calls[:4] == [
        ["groupadd", "--system", "-f", "kiosk-agent"],  # the UI group (no accounts in root)
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "kiosk-agent.service"],
        ["systemctl", "restart", "kiosk-agent.service"],
    ]
    enroll = runner.calls[4]
    assert enroll[:2] == [exe_path, "enroll"] and enroll[-2:] == ["--code", "ABCD-2345"]
    assert [exe_path, "status", "--config", "/etc/kiosk-agent/agent.yaml"] in runner.calls
    # Each step is announced, numbered, in order.
    titles = [line for line in said if line.startswith("[")]
    assert len(titles) == 10 and titles[0].startswith("[1/10] Copy the program")
    assert not any("ABCD-2345" in line for line in said)  # the code is not echoed


def test_rerun_repairs_and_keeps_the_first_dns_snapshot(tmp_path: Path) -> None:
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, FakeRunner(), dns)
    inst.install(ANSWERS)
    root = tmp_path / "root"
    first_unit = (root / "etc/systemd/system/kiosk-agent.service").read_text()
    # Damage the install: remove the unit, break the config; the DNS now points at us.
    (root / "etc/systemd/system/kiosk-agent.service").unlink()
    config_file = root / "etc/kiosk-agent/agent.yaml"
    data = yaml.safe_load(config_file.read_text())
    data["filter"]["block_answer"] = "sinkhole"  # an operator's edit survives a repair
    config_file.write_text(yaml.safe_dump(data))
    first = _release(root).name
    (_release(root) / "_internal/base_library.zip").unlink()  # a damaged program too
    again = dataclasses.replace(inst, dns=dns)
    again.install(dataclasses.replace(ANSWERS, pin=None, enrollment_code=None))
    # The repair wrote a new, complete release beside the old one and switched to it.
    second = {p.name for p in (root / "opt/kiosk-agent").glob("app-*")} - {first}
    assert len(second) == 1
    (new,) = second
    assert (root / f"opt/kiosk-agent/{new}/_internal/base_library.zip").is_file()
    assert (root / "etc/systemd/system/kiosk-agent.service").read_text() == first_unit.replace(
        first, new
    )
    assert (root / "opt/kiosk-agent/kiosk-agent").resolve().parent.name == new
    config = load_config(config_file)
    assert config.filter.block_answer == "sinkhole"
    assert verify_pin("4821", config.operator.pin_scrypt)  # kept when no new PIN was given
    assert load_snapshot(root / "var/lib/kiosk-agent") == BEFORE


def test_resolver_not_answering_leaves_dns_alone(tmp_path: Path) -> None:
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, FakeRunner(), dns)
    inst.wait_for_resolver = lambda hp: None
    said: list[str] = []
    inst.say = said.append
    inst.install(ANSWERS)
    assert dns.pointed == []
    assert any("DNS left unchanged" in line for line in said)


def test_failed_enrollment_does_not_fail_the_install(tmp_path: Path) -> None:
    def answer(argv: list[str]) -> CommandResult:
        if "enroll" in argv:
            return CommandResult(1, "", "kiosk-agent: the code has expired")
        return CommandResult(0)

    inst = _installer(tmp_path, FakeRunner(answer), FakeDns(BEFORE))
    said: list[str] = []
    inst.say = said.append
    inst.install(ANSWERS)
    assert any("the code has expired" in line for line in said)
    assert any("enrollment did not succeed" in line for line in said)


def test_failed_systemctl_stops_with_a_plain_message(tmp_path: Path) -> None:
    runner = FakeRunner(lambda argv: CommandResult(1, "", "Failed to connect to bus"))
    inst = _installer(tmp_path, runner, FakeDns(BEFORE))
    with pytest.raises(UserError, match=r"Failed to connect to bus.*run the installer again"):
        inst.install(ANSWERS)


def test_dry_run_changes_nothing_and_says_everything(tmp_path: Path) -> None:
    runner = FakeRunner()
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, runner, dns, dry_run=True)
    said: list[str] = []
    inst.say = said.append
    inst.install(ANSWERS)
    assert not (tmp_path / "root").exists()
    assert runner.calls == [] and dns.pointed == []
    text = "\n".join(said)
    assert "would write /opt/kiosk-agent/app-0.1.0-" in text
    assert "would write /etc/systemd/system/kiosk-agent.service" in text
    assert "would run systemctl enable kiosk-agent.service" in text
    assert "would point DNS at 127.0.0.1" in text
    assert "would write /etc/kiosk-agent/agent.yaml" in text


def test_prefix_install_touches_nothing_live(tmp_path: Path) -> None:
    runner = FakeRunner()
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, runner, dns)
    inst.layout = dataclasses.replace(inst.layout, register_with_os=False)
    inst.install(ANSWERS)
    assert dns.pointed == []
    assert runner.calls == [
        ["systemctl", f"--root={tmp_path / 'root'}", "enable", "kiosk-agent.service"]
    ]


def _uninstaller(inst: Installer, dns: FakeDns, runner: FakeRunner, pins: list[str]) -> Uninstaller:
    replies = iter(pins)

    def ask(prompt: str) -> str:
        try:
            return next(replies)
        except StopIteration:
            raise EOFError from None

    return Uninstaller(
        layout=inst.layout,
        services=linux_platform(runner),
        dns=dns,
        ask_pin=ask,
        say=lambda s: None,
    )


def test_uninstall_refuses_without_the_pin(tmp_path: Path) -> None:
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, FakeRunner(), dns)
    inst.install(ANSWERS)
    runner = FakeRunner()
    u = _uninstaller(inst, dns, runner, ["0000", "1234", "9999"])
    with pytest.raises(UserError, match="wrong operator PIN"):
        u.check_pin()
    with pytest.raises(UserError, match="wrong operator PIN"):
        _uninstaller(inst, dns, runner, []).check_pin()
    assert runner.calls == []
    assert (tmp_path / "root/opt/kiosk-agent/kiosk-agent").exists()


def test_uninstall_restores_dns_and_removes_program_keeping_state(tmp_path: Path) -> None:
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, FakeRunner(), dns)
    inst.install(ANSWERS)
    root = tmp_path / "root"
    (root / "var/lib/kiosk-agent/outbox.sqlite").write_bytes(b"counts")
    (root / "var/lib/kiosk-agent/operator-stop.json").unlink()  # consumed by the start
    runner = FakeRunner()
    u = _uninstaller(inst, dns, runner, ["1111", "4821"])
    u.check_pin()
    u.uninstall()
    assert (root / "var/lib/kiosk-agent/operator-stop.json").is_file()  # a re-install: no tamper
    assert dns.restored == [BEFORE] and dns.current == BEFORE
    assert ["systemctl", "disable", "--now", "kiosk-agent.service"] in runner.calls
    assert not (root / "opt/kiosk-agent").exists()
    assert not (root / "etc/systemd/system/kiosk-agent.service").exists()
    assert not (root / "etc/xdg/autostart/kiosk-agent-ui.desktop").exists()
    assert not (root / "etc/chromium/policies/managed/kiosk-agent-browser-guard.json").exists()
    assert not (root / "etc/firefox/policies/policies.json").exists()
    assert (root / "var/lib/kiosk-agent/outbox.sqlite").exists()
    assert (root / "etc/kiosk-agent/agent.yaml").exists()


def test_uninstall_purge_removes_state(tmp_path: Path) -> None:
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, FakeRunner(), dns)
    inst.install(ANSWERS)
    u = _uninstaller(inst, dns, FakeRunner(), ["4821"])
    u.check_pin()
    u.uninstall(purge=True)
    root = tmp_path / "root"
    assert not (root / "var/lib/kiosk-agent").exists()
    assert not (root / "etc/kiosk-agent").exists()


def test_uninstall_without_config_needs_force(tmp_path: Path) -> None:
    dns = FakeDns(BEFORE)
    inst = _installer(tmp_path, FakeRunner(), dns)
    u = _uninstaller(inst, dns, FakeRunner(), [])
    with pytest.raises(UserError, match="--force"):
        u.check_pin()
    u.check_pin(force=True)


def test_install_force_installs_a_publisher_signed_chromium_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from kiosk_agent.filter import crx
    from kiosk_agent.installer import browser_guard

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    package = tmp_path / "bundle" / "browser-guard.crx"
    package.parent.mkdir()
    package.write_bytes(crx.pack(browser_guard.xpi_bytes(browser_guard.GUARD_SOURCE), key))
    ext_id = crx.extension_id(crx.public_key_der(key))
    monkeypatch.setattr(browser_guard, "find_crx", lambda source: package)
    _installer(tmp_path, FakeRunner(), FakeDns(BEFORE)).install(ANSWERS)
    root = tmp_path / "root"
    assert (root / "opt/kiosk-agent/browser-guard.crx").read_bytes() == package.read_bytes()
    managed = root / "etc/chromium/policies/managed/kiosk-agent-browser-guard.json"
    policy = json.loads(managed.read_text())
    assert policy["ExtensionInstallForcelist"] == [
        f"{ext_id};http://127.0.0.1:8054/browser-guard/update.xml"
    ]
    assert policy["ExtensionDeveloperModeSettings"] == 1
    saved = load_policy(root / "var/lib/kiosk-agent")
    assert saved is not None and saved.chromium_id == ext_id
    assert saved.chromium_crx == "/opt/kiosk-agent/browser-guard.crx"


def test_install_leaves_out_a_demo_signed_chromium_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiosk_agent.filter import crx
    from kiosk_agent.installer import browser_guard

    package = tmp_path / "browser-guard.crx"
    source = browser_guard.GUARD_SOURCE
    package.write_bytes(crx.pack(browser_guard.xpi_bytes(source), crx.load_key(crx.DEMO_KEY_FILE)))
    monkeypatch.setattr(browser_guard, "find_crx", lambda source: package)
    said: list[str] = []
    inst = _installer(tmp_path, FakeRunner(), FakeDns(BEFORE))
    inst.say = said.append
    inst.install(ANSWERS)
    root = tmp_path / "root"
    assert not (root / "opt/kiosk-agent/browser-guard.crx").exists()
    managed = root / "etc/chromium/policies/managed/kiosk-agent-browser-guard.json"
    assert "ExtensionInstallForcelist" not in json.loads(managed.read_text())
    assert any("DEMO key" in line for line in said)
