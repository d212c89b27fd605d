"""The tamper watchdog: keeps the system's DNS settings pointed at the local resolver.

It touches the system only with ``filter.manage_system_dns: true`` (an installed kiosk);
otherwise it reports that it is not managing anything. When managing, it saves the
pre-install servers (if the installer did not), points the system at the agent, and every
``filter.watchdog_every`` checks that it still does; if not, it points it back and emits
``TamperDetected("dns_settings")``. At stop it leaves the settings pointed at the agent:
the service restarts on its own, and a kiosk whose filter was stopped should fail closed;
``kiosk-agent uninstall`` restores the saved servers.

With the same setting it keeps outbound DNS to the agent (``platform/dns_guard.py``): it
installs the platform's firewall rules at start, re-installs them when a check finds one
missing (``TamperDetected("dns_firewall")``), and turns their refusal counters into
``TamperDetected("dns_bypass")``, at most once a minute per kind (DNS, DoT, DoH).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from kiosk_agent.config import HostPort
from kiosk_agent.platform.base import DnsSettings, DnsSnapshot, PlatformError
from kiosk_agent.platform.dns_guard import BypassCounts, DnsGuard, load_doh_addresses
from kiosk_agent.platform.saved_dns import load_snapshot, save_snapshot
from kiosk_agent.reporting.events import TamperDetected
from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)


def agent_servers(listen: Sequence[HostPort]) -> list[str]:
    """The addresses the OS can be pointed at: listen addresses on port 53 (OS resolvers
    cannot be given another port)."""
    return [a.host for a in listen if a.port == 53]


def points_at_agent(snapshot: DnsSnapshot, ours: Sequence[str]) -> bool:
    """True when the system uses only the agent's addresses (at least one of them).

    Any other server, on any interface, is a way around the filter.
    """
    servers = set(snapshot.all_servers())
    return bool(servers) and servers <= set(ours)


def save_pre_install(state_dir: Path, snapshot: DnsSnapshot, ours: Sequence[str]) -> bool:
    """Save the pre-install servers unless already saved or they are already ours."""
    if load_snapshot(state_dir) is not None or points_at_agent(snapshot, ours):
        return False
    save_snapshot(state_dir, snapshot)
    return True


class DnsWatchdog:
    """The ``watchdog`` service component."""

    name = "watchdog"

    def __init__(
        self,
        ctx: ServiceContext,
        dns: DnsSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = ctx
        self._dns = dns
        self.clock = clock
        self.managing = ctx.config.filter.manage_system_dns
        self.ours = agent_servers(ctx.config.filter.listen)
        self.every = ctx.config.filter.watchdog_every
        self.points_at_agent: bool | None = None
        self.restored = 0
        self.last_check: float | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.bypass = BypassCounts()
        self.guard_intact: bool | None = None
        self.guard_restored = 0
        self.bypass_counted = 0
        self.guard_error: str | None = None

    @property
    def dns(self) -> DnsSettings:
        if self._dns is None:
            from kiosk_agent.platform import current

            self._dns = current()
        return self._dns

    async def start(self) -> None:
        if not self.managing:
            log.info("not managing the system's DNS settings (filter.manage_system_dns: false)")
            return
        if not self.ours:
            self.last_error = "no listen address on port 53: the system cannot be pointed at it"
            log.error("watchdog: %s", self.last_error)
            return
        try:
            snapshot = await asyncio.to_thread(self.dns.read_dns)
            if save_pre_install(self.ctx.state_dir, snapshot, self.ours):
                log.info("saved the system's DNS servers from before the agent")
            if not points_at_agent(snapshot, self.ours):
                await asyncio.to_thread(self.dns.point_dns_at, self.ours)
            self.points_at_agent = True
        except PlatformError as e:
            self.last_error = str(e)
            log.error("cannot point the system's DNS at the agent: %s", e)
        await self._install_guard()
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def guard(self) -> DnsGuard | None:
        """The platform's outbound DNS guard, if it has one."""
        dns = self.dns
        return dns if isinstance(dns, DnsGuard) else None

    async def _install_guard(self) -> bool:
        guard = self.guard
        if guard is None:
            return False
        doh = load_doh_addresses(self.ctx.state_dir)
        try:
            await asyncio.to_thread(guard.install_dns_guard, doh)
        except PlatformError as e:
            self.guard_error = str(e)
            self.guard_intact = False
            log.error("cannot install the outbound DNS rules: %s", e)
            return False
        self.bypass.restart()
        self.guard_intact = True
        self.guard_error = None
        return True

    async def check_guard(self) -> bool:
        """One check of the outbound DNS rules: re-installs missing ones, reports bypass
        attempts from their counters. True if the rules were intact."""
        guard = self.guard
        if guard is None:
            return True
        try:
            state = await asyncio.to_thread(guard.read_dns_guard)
        except PlatformError as e:
            self.guard_error = str(e)
            log.warning("watchdog cannot read the outbound DNS rules: %s", e)
            return False
        if not state.intact:
            log.warning("the outbound DNS rules were changed; installing them again")
            self.ctx.bus.publish(TamperDetected("dns_firewall"))
            if await self._install_guard():
                self.guard_restored += 1
            return False
        self.guard_intact = True
        for _kind in self.bypass.observe(state.counters, self.clock()):
            self.bypass_counted += 1
            self.ctx.bus.publish(TamperDetected("dns_bypass"))
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.check()
            await self.check_guard()

    async def check(self) -> bool:
        """One check; restores and reports tampering. True if the settings were intact."""
        self.last_check = self.clock()
        try:
            snapshot = await asyncio.to_thread(self.dns.read_dns)
        except PlatformError as e:
            self.last_error = str(e)
            log.warning("watchdog cannot read the DNS settings: %s", e)
            return False
        if points_at_agent(snapshot, self.ours):
            self.points_at_agent = True
            return True
        self.points_at_agent = False
        log.warning("the system's DNS settings were changed; pointing them back at the agent")
        self.ctx.bus.publish(TamperDetected("dns_settings"))
        try:
            await asyncio.to_thread(self.dns.point_dns_at, self.ours)
            self.points_at_agent = True
            self.restored += 1
            self.last_error = None
        except PlatformError as e:
            self.last_error = str(e)
            log.error("cannot restore the DNS settings: %s", e)
        return False

    def status(self) -> dict[str, object]:
        return {
            "managing_system_dns": self.managing,
            "system_points_at_agent": self.points_at_agent if self.managing else None,
            "restored": self.restored,
            "last_check": self.last_check,
            "last_error": self.last_error,
            "dns_guard": {
                "intact": self.guard_intact if self.managing else None,
                "restored": self.guard_restored,
                "bypass_counted": self.bypass_counted,
                "last_error": self.guard_error,
            },
        }


def create_watchdog(ctx: ServiceContext) -> DnsWatchdog:
    return DnsWatchdog(ctx)
