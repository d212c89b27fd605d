"""The switch helper: try a staged release, switch to it, or put the old one back.

Runs as its own process (``kiosk-agent update apply-release``), started by the service
when the worker has staged a release, outside the service's process group (the service
is stopped and started from here). The steps follow ``release_state`` (each state
written before its step): stop the service; run the candidate's ``service`` beside the
stable command, which still names the old release; it must answer DNS on the listen
address within ``updates.release.health_timeout``; then the stable command (and the
service definitions) name the candidate and the service starts from it, and must answer
again. A candidate that does not answer is stopped, its version remembered as bad, and
the old release started again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk_agent.config import Config, HostPort
from kiosk_agent.installer import release
from kiosk_agent.updates import release_state as rs
from kiosk_agent.updates.service_control import ControlError, ServiceControl

log = logging.getLogger(__name__)

Probe = Callable[[HostPort, float, Callable[[], bool]], bool]
"""Whether ``address`` answers DNS within ``seconds``; gives up early once the third
argument says the program tried has ended (a build that crashes at start)."""


def dns_probe(address: HostPort, within: float, alive: Callable[[], bool]) -> bool:
    import time

    from kiosk_agent.net.dns_probe import answers

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if answers(address, timeout=0.5) is not None:
            return True
        if not alive():
            return False
        time.sleep(0.25)
    return False


def _always() -> bool:
    return True


def probe_address(config: Config) -> HostPort:
    """The first listen address, with a wildcard host asked on loopback."""
    first = config.filter.listen[0]
    if first.host in ("0.0.0.0", "::"):
        return HostPort("127.0.0.1" if first.host == "0.0.0.0" else "::1", first.port)
    return first


@dataclass
class Switch:
    config: Config
    control: ServiceControl
    probe: Probe = dns_probe
    config_path: Path | None = None

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    def run(self) -> rs.ReleaseState:
        state = rs.load(self.state_dir)
        if state.phase != "staged" or state.candidate is None:
            log.info("no staged release (phase %s): nothing to switch", state.phase)
            return state
        candidate = state.candidate
        previous = release.current_release(self.control.program_dir, self.control.executable_name)
        state = rs.begin_trial(state, (rs.boot_id(), os.getpid()))
        state = _with_previous(state, previous)
        rs.save(self.state_dir, state)
        timeout = self.config.updates.release.health_timeout
        address = probe_address(self.config)
        log.info("trying release %s (%s)", candidate.program_version, candidate.release)
        self.control.stop()
        try:
            return self._switch(state, candidate, previous, address, timeout)
        except Exception:
            # Never leave the PC without its service: the old release starts again and
            # the switch is tried again later (as after a power cut: ``settle``).
            log.exception("the program switch failed; starting the previous release")
            now = rs.load(self.state_dir)
            settled = rs.settle(now, None, helper_alive=False)
            with contextlib.suppress(Exception):  # a candidate started by then is stopped
                self.control.stop()
            if settled.point_at is not None:
                self.control.point_at(settled.point_at)
            rs.save(self.state_dir, settled.state)
            self._start()
            return settled.state

    def _switch(
        self,
        state: rs.ReleaseState,
        candidate: rs.Candidate,
        previous: str | None,
        address: HostPort,
        timeout: float,
    ) -> rs.ReleaseState:
        answered = self._trial(candidate.release, address, timeout)
        state = rs.after_trial(state, answered)
        rs.save(self.state_dir, state)
        if not answered:
            log.warning("release %s did not answer DNS: kept %s", candidate.program_version,
                        previous)  # fmt: skip
            self._start()
            return state
        self.control.point_at(candidate.release)
        self._start()
        answered = self.probe(address, timeout, _always)
        if not answered and previous is not None:
            self.control.stop()
            self.control.point_at(previous)
            self._start()
        state = rs.after_switch(state, answered, previous)
        rs.save(self.state_dir, state)
        if answered:
            keep = {candidate.release, *([previous] if previous else [])}
            for line in release.remove_old_releases(self.control.program_dir, keep):
                log.info("%s", line)
        return state

    def _start(self) -> None:
        try:
            self.control.start()
        except ControlError as e:  # the service manager restarts it at boot regardless
            log.error("could not start the service: %s", e)

    def _trial(self, name: str, address: HostPort, timeout: float) -> bool:
        program = self.control.program_dir / name / self.control.executable_name
        argv = [str(program), "service"]
        if self.config_path is not None:
            argv += ["--config", str(self.config_path)]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            log.warning("cannot start %s: %s", program, e)
            return False
        try:
            return self.probe(address, timeout, lambda: proc.poll() is None) and proc.poll() is None
        finally:
            _end(proc)


def _with_previous(state: rs.ReleaseState, previous: str | None) -> rs.ReleaseState:
    from dataclasses import replace

    return replace(state, previous=previous)


def kill_tree_command(pid: int) -> list[str]:
    """Windows: end a process and every process it started (no sessions, no killpg)."""
    return ["taskkill", "/T", "/F", "/PID", str(pid)]


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Stop the trial service and every process it started (its own session)."""
    if proc.poll() is not None:
        return
    if sys.platform == "win32":  # pragma: no cover - Windows only (command tested as text)
        from kiosk_agent.platform.base import run_command

        run_command(kill_tree_command(proc.pid))
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.wait(timeout=10)
