"""`kiosk-agent install`: the steps, each printed as it happens.

Every step is idempotent, so running the installer again repairs an install (the unit,
the autostart entry and the program are rewritten; the DNS settings saved at the first
install are kept). ``--dry-run`` runs the very same steps against a scratch folder with a
command runner that only records, and prints what it would do.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk_agent import __version__
from kiosk_agent.atomic import write_atomic, write_text_atomic
from kiosk_agent.config import Config, HostPort, config_from_mapping
from kiosk_agent.errors import UserError
from kiosk_agent.installer import config_writer, release
from kiosk_agent.installer.answers import Answers
from kiosk_agent.installer.release import ReleaseError
from kiosk_agent.platform.base import (
    CommandResult,
    CommandRunner,
    DnsSettings,
    InstallLayout,
    PlatformError,
    ServiceManager,
)
from kiosk_agent.platform.dns_guard import DnsGuard, load_doh_addresses
from kiosk_agent.platform.saved_dns import load_snapshot, save_snapshot, saved_dns_path

ASSETS = Path(__file__).resolve().parent / "assets"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE_CONFIG_NAMES = ("config/agent.example.yaml", "kiosk_agent/agent.example.yaml")


def find_example_config() -> Path | None:
    """``agent.example.yaml``: in the one-file program's bundle or the source checkout."""
    bases = [Path(getattr(sys, "_MEIPASS", PACKAGE_ROOT)), PACKAGE_ROOT]
    for base in bases:
        for name in EXAMPLE_CONFIG_NAMES:
            if (base / name).is_file():
                return base / name
    return None


def source_program() -> Path | None:
    """The program running now (the downloaded one-file program, or an installed release's
    launcher for a repair), or None when running from Python sources."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable)
    return None


def launcher_script() -> str:
    """For a source checkout (no one-file program): a script that runs this Python."""
    return (
        "#!/bin/sh\n"
        "# kiosk-agent from Python sources, written by `kiosk-agent install`.\n"
        "# A release installs the unpacked program beside it instead (docs/install.md).\n"
        f"PYTHONPATH={shlex.quote(str(PACKAGE_ROOT))} "
        f'exec {shlex.quote(sys.executable)} -m kiosk_agent "$@"\n'
    )


class RecordingRunner:
    """For ``--dry-run``: records commands and answers success without running anything."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        self.calls.append(list(argv))
        return CommandResult(0, "", "")


_DRY_VERBS = {
    "wrote": "would write",
    "ran": "would run",
    "removed": "would remove",
    "set": "would set",
}


@dataclass
class Installer:
    """Installs the agent according to ``layout``.

    ``services`` registers the service and UI; ``dns`` reads and changes the system's DNS
    settings (None when this build cannot); ``runner`` runs the installed program for
    ``enroll`` and ``status``; ``wait_for_resolver`` returns the seconds until the
    agent's resolver answered, or None.
    """

    layout: InstallLayout
    services: ServiceManager
    dns: DnsSettings | None
    runner: CommandRunner
    say: Callable[[str], None] = print
    program: Path | None = None
    wait_for_resolver: Callable[[HostPort], float | None] | None = None
    dry_run: bool = False

    _previous_release: str | None = None
    _step: int = 0
    _steps_total: int = 10

    # -- output -------------------------------------------------------------------------

    def _title(self, text: str) -> None:
        self._step += 1
        self.say(f"[{self._step}/{self._steps_total}] {text}")

    def _detail(self, line: str) -> None:
        if self.dry_run:
            verb, _, rest = line.partition(" ")
            if verb in _DRY_VERBS:
                line = f"{_DRY_VERBS[verb]} {rest}"
        self.say(f"      {line}")

    def _details(self, lines: list[str]) -> None:
        for line in lines:
            self._detail(line)

    # -- the steps ----------------------------------------------------------------------

    def install(self, answers: Answers) -> Config:
        """Run every step; returns the installed config. Raises ``UserError`` on failure."""
        if self.dry_run:
            with self._scratch() as installer:
                installer.say(f"dry run: nothing is changed; installing into {self.layout.root}")
                return installer._install(answers)
        return self._install(answers)

    @contextmanager
    def _scratch(self) -> Iterator[Installer]:
        with tempfile.TemporaryDirectory(prefix="kiosk-agent-dry-run-") as tmp:
            # The same platform class, with a runner that only records.
            services: Any = type(self.services)()
            services.runner = RecordingRunner()
            scratch = dataclasses.replace(self.layout, root=Path(tmp))
            # Copy what a repair would read (the current config, the saved DNS settings).
            for path in (self.layout.config_path, saved_dns_path(self.layout.state_dir)):
                real = self.layout.on_disk(path)
                if real.is_file():
                    scratch.on_disk(path).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(real, scratch.on_disk(path))
            yield dataclasses.replace(
                self, layout=scratch, services=services, runner=RecordingRunner()
            )

    def _mark_operator_stop(self) -> None:
        """The restart is the operator's, not tamper (stop_marker.py)."""
        from kiosk_agent.service.stop_marker import mark_operator_stop

        try:
            mark_operator_stop(self.layout.on_disk(self.layout.state_dir))
        except OSError as e:
            self._detail(f"could not note the restart as the operator's: {e.strerror or e}")

    def _install(self, answers: Answers) -> Config:
        try:
            self._copy_program()
            layout = self.layout  # names the new release from here on
            data = self._write_config(answers)
            config = config_from_mapping(data, str(layout.config_path))
            self._save_dns(config)
            self._title("Register the service (starts at boot, restarts on failure)")
            self._details(self.services.install_service(layout, layout.executable))
            self._title("Register the notice and tray for every desktop login")
            self._details(self.services.install_ui_autostart(layout, layout.executable))
            self._browser_guard(config)
            self._title("Start the service")
            self._mark_operator_stop()
            self._details(self.services.start(layout))
            self._remove_old_releases()
            self._point_dns(config)
            self._enroll(answers)
            self._status()
        except PlatformError as e:
            raise UserError(f"install stopped: {e}. Fix this and run the installer again.") from e
        except ReleaseError as e:
            raise UserError(f"install stopped: {e}") from e
        except OSError as e:
            where = f" ({e.filename})" if e.filename else ""
            raise UserError(
                f"install stopped: {e.strerror or e}{where}. "
                "Run it as administrator (root), then again to finish."
            ) from e
        return config

    def _copy_program(self) -> None:
        layout = self.layout
        self._title(f"Copy the program to {layout.program_dir}")
        program_dir = layout.on_disk(layout.program_dir)
        program_dir.mkdir(parents=True, exist_ok=True)
        source = self.program or source_program()
        if source is None:
            if layout.executable_name.endswith(".exe"):
                raise UserError(
                    "run the installer from the one-file kiosk-agent.exe "
                    "(or pass --program PATH); see installer/README.md"
                )
            # A source checkout: a script that runs this Python, no release folder.
            self._previous_release = None
            write_text_atomic(layout.on_disk(layout.executable), launcher_script(), 0o755)
            self._detail(f"wrote {layout.executable} (runs this Python: a source checkout)")
        else:
            self._previous_release = release.current_release(program_dir, layout.executable_name)
            staged = release.install_release(
                source, program_dir, release.new_release_name(__version__), layout.executable_name
            )
            ui_name = release.ui_executable_name(layout.executable_name)
            has_ui = (program_dir / staged.name / ui_name).is_file()  # Windows builds
            self.layout = layout = dataclasses.replace(
                layout, release=staged.name, ui_executable_name=ui_name if has_ui else None
            )
            self._detail(
                f"wrote {layout.program_dir / staged.name} ({staged.files} files, "
                f"{staged.size / 2**20:.1f} MiB: the program unpacked once, so it starts "
                "without unpacking)"
            )
            command = release.point_command_at(program_dir, staged.name, layout.executable_name)
            self._detail(f"set {layout.program_dir / command.name} to run {staged.name}")
        for name in ("kiosk-agent.png", "kiosk-agent.ico"):
            if (ASSETS / name).is_file():
                write_atomic(
                    layout.on_disk(layout.program_dir / name), (ASSETS / name).read_bytes()
                )
        example = find_example_config()
        if example is not None:
            write_atomic(
                layout.on_disk(layout.program_dir / "agent.example.yaml"), example.read_bytes()
            )
            self._detail(f"wrote {layout.program_dir / 'agent.example.yaml'} (every key explained)")

    def _browser_guard(self, config: Config) -> None:
        """The guard extension next to the program and the browsers' policies for it."""
        from kiosk_agent.installer.browser_guard import (
            CRX_NAME,
            XPI_NAME,
            build_xpi,
            crx_problem,
            find_crx,
            find_guard_source,
            guard_policy,
        )
        from kiosk_agent.platform.browser_policies import save_policy

        layout = self.layout
        self._title("Enforce the browser guard in the browsers' policies")
        write = getattr(self.services, "write_browser_policies", None)
        source = find_guard_source()
        if write is None or source is None:
            self._detail("this build has no browser guard: skipped (docs/browser-guard.md)")
            return
        count = build_xpi(source, layout.on_disk(layout.program_dir / XPI_NAME))
        self._detail(f"wrote {layout.program_dir / XPI_NAME} ({count} files)")
        chromium_id = None
        crx_file = find_crx(source)
        if crx_file is None:
            self._detail(
                f"this build carries no signed {CRX_NAME}: Chromium-family browsers get "
                "the policies without the guard (docs/browser-guard.md)"
            )
        else:
            data = crx_file.read_bytes()
            chromium_id, problem = crx_problem(data)
            if chromium_id is None:
                self._detail(f"{problem}: Chromium-family browsers do not get the guard")
            else:
                write_atomic(layout.on_disk(layout.program_dir / CRX_NAME), data)
                self._detail(f"wrote {layout.program_dir / CRX_NAME} (extension {chromium_id})")
        listen = config.filter.guard.listen  # the update URL is the guard API's address
        policy = guard_policy(
            layout.program_dir,
            layout.executable_name.endswith(".exe"),
            chromium_id,
            (listen.host, listen.port),
        )
        self._details(write(layout.root, policy))
        save_policy(layout.on_disk(layout.state_dir), policy)  # what the watchdog keeps

    def _remove_old_releases(self) -> None:
        """After the service runs the new release: the one before it stays (a tray started
        from it in an open session still reads its files); older ones go."""
        keep = {r for r in (self.layout.release, self._previous_release) if r}
        program_dir = self.layout.on_disk(self.layout.program_dir)
        self._details(release.remove_old_releases(program_dir, keep))

    def _write_config(self, answers: Answers) -> dict[str, Any]:
        layout = self.layout
        self._title("Write the settings and the state folder")
        config_file = layout.on_disk(layout.config_path)
        existing_text = config_file.read_text(encoding="utf-8") if config_file.is_file() else None
        existing = config_writer.read_existing(existing_text)
        if existing_text is not None and existing is None:
            self._detail(f"{layout.config_path} was unreadable: replaced")
        data = config_writer.installed_config(answers, layout, existing)
        state = layout.on_disk(layout.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        self._detail(f"state folder {layout.state_dir}")
        write_text_atomic(config_file, config_writer.render(data), 0o600)
        self._detail(f"wrote {layout.config_path} (readable by the service only: PIN hash)")
        if layout.ui_config_path is not None:
            write_text_atomic(
                layout.on_disk(layout.ui_config_path),
                config_writer.render(config_writer.ui_config(data), config_writer.UI_HEADER),
                0o644,
            )
            self._detail(f"wrote {layout.ui_config_path} (for the notice and tray)")
        self._details(self.services.protect_files(layout))
        if not data["filter"].get("feeds"):
            self._detail(
                "note: no blocklist feed is configured yet; add filter.feeds "
                "(url and the publisher's key from your coordinator) and run install again"
            )
        return data

    def _save_dns(self, config: Config) -> None:
        layout = self.layout
        self._title("Save the current DNS settings (restored at uninstall)")
        if self.dns is None:
            self._detail("skipped: this build cannot read the system's DNS settings")
            return
        if not layout.register_with_os:
            self._detail(f"not saved: installed into the prefix {layout.root}")
            return
        if load_snapshot(layout.on_disk(layout.state_dir)) is not None:
            self._detail("kept the settings saved by the first install")
            return
        snapshot = self.dns.read_dns()
        own = {hp.host for hp in config.filter.listen}
        servers = snapshot.all_servers()
        if servers and set(servers) <= own:
            self._detail(
                "the system already uses the agent and nothing was saved before: "
                "upstreams: [auto] has no servers; name them in filter.upstreams"
            )
            return
        save_snapshot(layout.on_disk(layout.state_dir), snapshot)
        shown = ", ".join(servers) or "none"
        self._detail(f"wrote {saved_dns_path(layout.state_dir)} ({snapshot.method}: {shown})")

    def _point_dns(self, config: Config) -> None:
        self._title("Point this PC's DNS at the agent")
        if not self.layout.register_with_os:
            self._detail(f"not changed: installed into the prefix {self.layout.root}")
            return
        if self.dns is None:
            self._detail("skipped: this build cannot change the system's DNS settings")
            return
        listen = [hp for hp in config.filter.listen if hp.port == 53]
        if not listen:
            self._detail("not changed: filter.listen has no address on port 53")
            return
        if self.dry_run:
            self._detail(f"would point DNS at {', '.join(hp.host for hp in listen)}")
            return
        waited = self.wait_for_resolver(listen[0]) if self.wait_for_resolver else 0.0
        if waited is None:
            # Pointing the PC at a resolver that does not answer would cut its internet.
            self._detail(
                f"the agent's resolver did not answer on {listen[0]}: DNS left unchanged "
                "(the service points it there itself once it answers)"
            )
            return
        self.dns.point_dns_at([hp.host for hp in listen])
        self._detail(f"the system now resolves through {', '.join(hp.host for hp in listen)}")
        if isinstance(self.dns, DnsGuard) and config.filter.manage_system_dns:
            # Only once the agent answers: the rules leave every program but the agent
            # without DNS of its own (the service's watchdog keeps them in place).
            doh = load_doh_addresses(self.layout.on_disk(self.layout.state_dir))
            try:
                self.dns.install_dns_guard(doh)
            except PlatformError as e:
                # The filter works without them; `kiosk-agent status` names what is missing.
                self._detail(f"outbound DNS rules NOT installed ({e}); the filter still works")
            else:
                self._detail("outbound DNS, DoT and DoH of other programs now refused")

    def _agent_command(self, args: list[str]) -> list[str]:
        return [str(self.layout.executable), *args]

    def _enroll(self, answers: Answers) -> None:
        self._title("Enroll with the regional server")
        layout = self.layout
        if not answers.enrollment_code or not answers.server:
            self._detail("no enrollment code: enroll later with `kiosk-agent enroll`")
            return
        config = str(layout.config_path)
        code = answers.enrollment_code
        argv = self._agent_command(
            ["enroll", "--config", config, "--server", answers.server, "--code", code]
        )
        if not layout.register_with_os:
            self._detail(f"not enrolled in a prefix install; on the PC run: {shlex.join(argv)}")
            return
        result = self.runner(argv, timeout=120)
        self._detail(f"ran {shlex.join(argv[:2])} --server {answers.server} --code ****")
        for line in (result.stdout + result.stderr).strip().splitlines():
            self._detail(line)
        if result.returncode != 0:
            self._detail("enrollment did not succeed; the PC is protected anyway. Later run:")
            self._detail(f"  {shlex.join(argv[:-2])} --code CODE")

    def _status(self) -> None:
        self._title("Status")
        layout = self.layout
        if not layout.register_with_os:
            self._detail(f"installed into {layout.root}; nothing was started on this machine")
            return
        running = self.services.service_running(layout)
        if running is not None:
            self._detail("service running" if running else "service NOT running")
        argv = self._agent_command(["status", "--config", str(layout.config_path)])
        if self.dry_run:
            self._detail(f"ran {shlex.join(argv)}")
        result = self.runner(argv, timeout=30)
        for line in (result.stdout + result.stderr).strip().splitlines():
            self._detail(line)


def is_administrator() -> bool:
    """Whether this process may install system-wide (root, or an elevated Windows token)."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None:
        return bool(geteuid() == 0)
    try:
        import ctypes

        return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return False
