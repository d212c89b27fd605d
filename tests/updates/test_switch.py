"""The switch helper with a recording service manager and a scripted DNS probe."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kiosk_agent.config import Config, HostPort
from kiosk_agent.installer import release
from kiosk_agent.reporting.events import EventBus, ReleaseSwitched
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.updates import release_state as rs
from kiosk_agent.updates.component import UpdatesComponent
from kiosk_agent.updates.switch import Switch, probe_address

OLD, NEW = "app-1.0.0-aaaa", "app-1.1.0-bbbb"


@dataclass
class Control:
    program_dir: Path
    executable_name: str = "kiosk-agent"
    calls: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.calls.append("stop")

    def start(self) -> None:
        self.calls.append(f"start {release.current_release(self.program_dir, 'kiosk-agent')}")

    def point_at(self, name: str) -> None:
        self.calls.append(f"point {name}")
        release.point_command_at(self.program_dir, name, self.executable_name)

    def spawn_helper(self, argv: Sequence[str]) -> None:
        self.calls.append("spawn " + " ".join(argv[1:]))


def setup(tmp: Path) -> tuple[Config, Control]:
    program_dir = tmp / "opt"
    for name in (OLD, NEW):
        (program_dir / name).mkdir(parents=True)
        launcher = program_dir / name / "kiosk-agent"
        launcher.write_text("#!/bin/sh\nexec sleep 30\n")  # a service that just runs
        launcher.chmod(0o755)
    release.point_command_at(program_dir, OLD, "kiosk-agent")
    config = Config(state_dir=tmp / "state")
    rs.save(
        config.state_dir,
        rs.ReleaseState(phase="staged", candidate=rs.Candidate(1_000_001_000_000, "1.1.0", NEW)),
    )
    return config, Control(program_dir)


def scripted(*answers: bool) -> tuple[list[bool], object]:
    left = list(answers)

    def probe(address: HostPort, within: float, alive: Callable[[], bool]) -> bool:
        assert alive()  # the trial program (a sleep) runs while it is asked
        return left.pop(0)

    return left, probe


def test_the_candidate_answers_twice_and_stays(tmp_path: Path) -> None:
    config, control = setup(tmp_path)
    left, probe = scripted(True, True)
    state = Switch(config, control, probe).run()  # type: ignore[arg-type]
    assert left == []
    assert control.calls == ["stop", f"point {NEW}", f"start {NEW}"]
    assert state.phase == "idle" and state.applied == 1_000_001_000_000
    assert state.previous == OLD and state.applied_count == 1
    assert rs.load(config.state_dir) == state


def test_a_candidate_silent_in_the_trial_never_becomes_the_command(tmp_path: Path) -> None:
    config, control = setup(tmp_path)
    _, probe = scripted(False)
    state = Switch(config, control, probe).run()  # type: ignore[arg-type]
    assert control.calls == ["stop", f"start {OLD}"]
    assert release.current_release(control.program_dir, "kiosk-agent") == OLD
    assert state.bad == (1_000_001_000_000,) and state.rolled_back_count == 1


def test_silent_under_the_service_manager_is_switched_back(tmp_path: Path) -> None:
    config, control = setup(tmp_path)
    _, probe = scripted(True, False)
    state = Switch(config, control, probe).run()  # type: ignore[arg-type]
    assert control.calls == ["stop", f"point {NEW}", f"start {NEW}", "stop", f"point {OLD}",
                             f"start {OLD}"]  # fmt: skip
    assert state.phase == "idle" and 1_000_001_000_000 in state.bad


def test_nothing_staged_nothing_done(tmp_path: Path) -> None:
    config, control = setup(tmp_path)
    rs.save(config.state_dir, rs.ReleaseState())
    assert Switch(config, control).run().phase == "idle"
    assert control.calls == []


def test_probe_address_asks_a_wildcard_on_loopback() -> None:
    from kiosk_agent.config import FilterConfig

    config = Config(filter=FilterConfig(listen=(HostPort("0.0.0.0", 5353),)))
    assert probe_address(config) == HostPort("127.0.0.1", 5353)


def test_the_service_counts_finished_switches_once(tmp_path: Path) -> None:
    ctx = ServiceContext(Config(state_dir=tmp_path), bus=EventBus())
    seen: list[object] = []
    ctx.bus.subscribe(seen.append)
    component = UpdatesComponent(ctx)
    state = rs.ReleaseState(applied_count=1, rolled_back_count=2)
    component.count_switches(state)
    component.count_switches(state)
    assert seen == [ReleaseSwitched("applied"), *[ReleaseSwitched("rolled_back")] * 2]


def test_a_build_that_dies_at_start_is_given_up_at_once(tmp_path: Path) -> None:
    import time

    from kiosk_agent.config import FilterConfig
    from kiosk_agent.net.ports import free_port

    config, control = setup(tmp_path)
    launcher = control.program_dir / NEW / "kiosk-agent"
    launcher.write_text("#!/bin/sh\nexit 3\n")
    config = Config(
        state_dir=config.state_dir,
        filter=FilterConfig(listen=(HostPort("127.0.0.1", free_port()),)),
    )
    start = time.monotonic()
    state = Switch(config, control).run()  # the real DNS probe, 60 s bound
    assert time.monotonic() - start < 15
    assert state.bad == (1_000_001_000_000,)
    assert control.calls == ["stop", f"start {OLD}"]


def test_systemd_control_rewrites_the_unit_for_the_new_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `auto` does on a systemd PC, with the commands recorded instead of run."""
    from kiosk_agent.platform import linux_services
    from kiosk_agent.platform.base import CommandResult
    from kiosk_agent.updates.service_control import ControlError, SystemdControl
    from tests.platform.fake_runner import FakeRunner

    monkeypatch.setattr(linux_services, "UNIT_DIR", tmp_path / "systemd")
    monkeypatch.setattr(linux_services, "AUTOSTART_DIR", tmp_path / "autostart")
    _, control = setup(tmp_path)
    runner = FakeRunner()
    systemd = SystemdControl(control.program_dir, "kiosk-agent", tmp_path / "agent.yaml", runner)
    systemd.stop()
    systemd.point_at(NEW)
    systemd.start()
    systemd.spawn_helper(["/opt/kiosk-agent/kiosk-agent", "update", "apply-release"])
    unit = (tmp_path / "systemd" / "kiosk-agent.service").read_text()
    launcher = control.program_dir / NEW / "kiosk-agent"
    assert f"ExecStart={launcher} service --config {tmp_path / 'agent.yaml'}" in unit
    assert str(launcher) in (tmp_path / "autostart" / "kiosk-agent-ui.desktop").read_text()
    assert release.current_release(control.program_dir, "kiosk-agent") == NEW
    assert runner.calls == [
        ["systemctl", "stop", "kiosk-agent.service"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "kiosk-agent.service"],
        ["systemctl", "start", "kiosk-agent.service"],
        ["systemd-run", "--collect", "--quiet", "--unit=kiosk-agent-release-switch",
         "--property=ExecStopPost=/bin/systemctl start kiosk-agent.service",
         "/opt/kiosk-agent/kiosk-agent", "update", "apply-release"],
    ]  # fmt: skip
    failing = SystemdControl(
        control.program_dir, "kiosk-agent", tmp_path / "agent.yaml",
        FakeRunner(lambda argv: CommandResult(1, "", "unit not found")),
    )  # fmt: skip
    with pytest.raises(ControlError, match="unit not found"):
        failing.stop()


def _service_config(tmp_path: Path, program_dir: Path) -> Config:
    import yaml

    from kiosk_agent.config import load_config

    path = tmp_path / "agent.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "updates": {
                    "release": {
                        "program_dir": str(program_dir),
                        "service": "command",
                        "stop_command": ["true"],
                        "start_command": ["true"],
                    }
                },
            }
        )
    )
    return load_config(path)


@pytest.mark.parametrize("phase", ["trial", "switched"])
def test_after_a_power_cut_the_service_starts_the_switch_again(tmp_path: Path, phase: str) -> None:
    """The helper died with the power; the service that boots (the old release: the
    stable command never moved) takes the switch up again from ``staged``."""
    import time

    _, control = setup(tmp_path)
    marker = tmp_path / "helper-started"
    launcher = control.program_dir / OLD / "kiosk-agent"
    launcher.write_text(f'#!/bin/sh\necho "$@" > {marker}\n')
    config = _service_config(tmp_path, control.program_dir)
    dead_helper = ("a boot before this one", 1)
    state = rs.ReleaseState(
        phase=phase, candidate=rs.Candidate(1_000_001_000_000, "1.1.0", NEW), previous=OLD,
        attempts=1, helper=dead_helper,
    )  # fmt: skip
    rs.save(config.state_dir, state)
    component = UpdatesComponent(ServiceContext(config, bus=EventBus()))
    component.settle_release()
    assert rs.load(config.state_dir).phase == "staged"
    assert release.current_release(control.program_dir, "kiosk-agent") == OLD
    for _ in range(100):
        if marker.exists() and marker.read_text().strip():
            break
        time.sleep(0.05)
    assert marker.read_text().split() == ["update", "apply-release", "--config",
                                          str(tmp_path / "agent.yaml")]  # fmt: skip
    from kiosk_agent.updates import service_control

    for helper in service_control._HELPERS:  # reaped here, as the service does
        helper.wait(10)


def test_after_a_power_cut_once_switched_the_new_release_is_kept(tmp_path: Path) -> None:
    _, control = setup(tmp_path)
    release.point_command_at(control.program_dir, NEW, "kiosk-agent")
    config = _service_config(tmp_path, control.program_dir)
    rs.save(
        config.state_dir,
        rs.ReleaseState(
            phase="switched", candidate=rs.Candidate(1_000_001_000_000, "1.1.0", NEW),
            previous=OLD, attempts=1, helper=("a boot before this one", 1),
        ),
    )  # fmt: skip
    seen: list[object] = []
    ctx = ServiceContext(config, bus=EventBus())
    ctx.bus.subscribe(seen.append)
    UpdatesComponent(ctx).settle_release()
    state = rs.load(config.state_dir)
    assert state.phase == "idle" and state.applied == 1_000_001_000_000
    assert seen == [ReleaseSwitched("applied")]


def test_a_helper_that_fails_mid_switch_starts_the_old_release_again(tmp_path: Path) -> None:
    config, control = setup(tmp_path)

    def broken_probe(address: HostPort, within: float, alive: Callable[[], bool]) -> bool:
        raise RuntimeError("a bug")

    state = Switch(config, control, broken_probe).run()
    assert control.calls == ["stop", "stop", f"start {OLD}"]
    assert state.phase == "staged" and rs.load(config.state_dir) == state


def test_status_in_plain_words_names_the_program_and_an_update() -> None:
    from kiosk_agent.service.status import describe

    base = {"summary": "Protected.", "filter": {}}
    updates = {"program_version": "1.0.0", "release": {"phase": "idle", "candidate": None}}
    text = describe({**base, "components": {"updates": updates}}, now=0)
    assert "Program version 1.0.0." in text
    updates["release"] = {"phase": "trial", "candidate": "1.1.0", "postponed_until": 7200}
    text = describe({**base, "components": {"updates": updates}}, now=0)
    assert "switching to 1.1.0 (trial)" in text and "postponed for 2 h" in text
    assert "Program" not in describe(base, now=0)


def test_a_release_staged_while_postponed_is_switched_once_the_day_is_over(
    tmp_path: Path,
) -> None:
    import time

    from kiosk_agent.updates.check import CheckAnswer, KindResult

    _, control = setup(tmp_path)
    config = _service_config(tmp_path, control.program_dir)
    rs.save(config.state_dir, rs.ReleaseState(phase="staged", candidate=rs.Candidate(
        1_000_001_000_000, "1.1.0", NEW)))  # fmt: skip
    rs.postpone(config.state_dir, time.time())
    component = UpdatesComponent(ServiceContext(config, bus=EventBus()))
    component.start_switch()  # the real one: postponed, so no helper
    assert component._switch_started is None
    spawned: list[float] = []
    component.start_switch = lambda: spawned.append(1.0)  # type: ignore[method-assign]
    waiting = CheckAnswer([KindResult("release", "deferred", "switch_in_progress")])
    component.take(waiting)
    assert spawned == [1.0]
    component._switch_started = time.monotonic()
    component.take(waiting)
    assert spawned == [1.0]  # not again within SWITCH_RETRY
    rs.save(config.state_dir, rs.ReleaseState())
    component._switch_started = None
    component.take(waiting)
    assert spawned == [1.0]  # nothing staged: nothing to start
