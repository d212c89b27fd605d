"""`kiosk-agent uninstall`: asks the operator PIN, then stops and removes the service and
the UI autostart, restores the DNS settings saved at install, removes the program.

The config and ``state_dir`` (counts not yet uploaded, the kiosk's identity) stay unless
``purge``: a re-install then picks up where the PC left off.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk_agent.errors import UserError
from kiosk_agent.installer.config_writer import read_existing
from kiosk_agent.platform.base import DnsSettings, InstallLayout, PlatformError, ServiceManager
from kiosk_agent.platform.dns_guard import DnsGuard
from kiosk_agent.platform.saved_dns import load_snapshot
from kiosk_agent.service.pin import verify_pin

PIN_TRIES = 3


@dataclass
class Uninstaller:
    layout: InstallLayout
    services: ServiceManager
    dns: DnsSettings | None
    ask_pin: Callable[[str], str]
    say: Callable[[str], None] = print

    def _detail(self, line: str) -> None:
        self.say(f"      {line}")

    def check_pin(self, *, force: bool = False) -> None:
        """Raise ``UserError`` unless the operator PIN is typed right (3 tries).

        ``force`` allows going on only when no PIN can be checked (config lost).
        """
        config_file = self.layout.on_disk(self.layout.config_path)
        text = config_file.read_text(encoding="utf-8") if config_file.is_file() else None
        data = read_existing(text) or {}
        stored = (data.get("operator") or {}).get("pin_scrypt")
        if not stored:
            if force:
                self.say(f"no operator PIN found in {self.layout.config_path}: going on (--force)")
                return
            raise UserError(
                f"no operator PIN found ({self.layout.config_path} is missing or has none); "
                "nothing was removed. As administrator, `kiosk-agent uninstall --force` "
                "removes the agent anyway."
            )
        for attempt in range(PIN_TRIES):
            try:
                pin = self.ask_pin("Operator PIN:")
            except EOFError:
                break
            if verify_pin(pin.strip(), stored):
                return
            if attempt < PIN_TRIES - 1:
                self.say("Wrong PIN, please try again.")
        raise UserError("wrong operator PIN: nothing was removed")

    def _mark_operator_stop(self) -> None:
        """The stop is the operator's: a re-install does not count it as tamper."""
        from kiosk_agent.service.stop_marker import mark_operator_stop

        state = self.layout.on_disk(self.layout.state_dir)
        if state.is_dir():
            try:
                mark_operator_stop(state)
            except OSError as e:
                self._detail(f"could not note the stop as the operator's: {e.strerror or e}")

    def uninstall(self, *, purge: bool = False) -> None:
        layout = self.layout
        try:
            # The service first: its watchdog would otherwise put its own address back.
            self.say("[1/4] Stop and remove the service and the UI autostart")
            self._mark_operator_stop()
            for line in self.services.uninstall(layout):
                self._detail(line)
            self._remove_browser_policies()
            self.say("[2/4] Restore the DNS settings saved at install")
            self._restore_dns()
        except PlatformError as e:
            raise UserError(f"uninstall stopped: {e}; run it again to finish") from e
        self.say(f"[3/4] Remove the program from {layout.program_dir}")
        self._remove_tree(layout.program_dir)
        if purge:
            self.say("[4/4] Remove the settings and the state folder (--purge)")
            for path in (layout.config_path, layout.ui_config_path):
                if path is not None and layout.on_disk(path).is_file():
                    layout.on_disk(path).unlink()
                    self._detail(f"removed {path}")
            self._remove_tree(layout.state_dir)
            config_dir = layout.on_disk(layout.config_path.parent)
            if config_dir.is_dir() and not any(config_dir.iterdir()):
                config_dir.rmdir()
        else:
            self.say(f"[4/4] Kept the settings and {layout.state_dir} (remove them with --purge)")
        self.say("The agent is removed from this PC.")

    def _restore_dns(self) -> None:
        layout = self.layout
        if isinstance(self.dns, DnsGuard) and layout.register_with_os:
            # Before the settings go back: with the rules in place and the agent gone, no
            # program would have DNS.
            self.dns.remove_dns_guard()
            self._detail("removed the outbound DNS rules")
        snapshot = load_snapshot(layout.on_disk(layout.state_dir))
        if snapshot is None:
            self._detail("no saved settings: the DNS settings were not changed")
            return
        if not layout.register_with_os:
            self._detail(f"not changed: installed into the prefix {layout.root}")
            return
        if self.dns is None:
            self._detail("skipped: this build cannot change the system's DNS settings")
            return
        self.dns.restore_dns(snapshot)
        shown = ", ".join(snapshot.all_servers()) or "the system's defaults"
        self._detail(f"restored ({snapshot.method}): {shown}")

    def _remove_browser_policies(self) -> None:
        """The browser guard's policies, as the installer saved them (after the service
        stopped: its policy watchdog would write them back)."""
        from kiosk_agent.platform.browser_policies import load_policy

        policy = load_policy(self.layout.on_disk(self.layout.state_dir))
        remove = getattr(self.services, "remove_browser_policies", None)
        if policy is not None and remove is not None:
            for line in remove(self.layout.root, policy):
                self._detail(line)

    def _remove_tree(self, path: Path) -> None:
        target = self.layout.on_disk(path)
        if not target.exists():
            self._detail(f"{path} was already gone")
            return
        try:
            shutil.rmtree(target)
        except OSError as e:
            # Windows keeps a running program's file locked (the uninstaller itself).
            self._detail(f"could not remove {path} ({e.strerror}); delete it after a restart")
            return
        self._detail(f"removed {path}")
