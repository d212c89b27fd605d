"""The tamper watchdog: keeps the system's DNS settings pointed at the local resolver.

It touches the system only with ``filter.manage_system_dns: true`` (an installed kiosk);
otherwise it reports that it is not managing anything. When managing, it saves the
pre-install servers (if the installer did not), points the system at the agent, and every
``filter.watchdog_every`` checks that it still does; if not, it points it back and emits
``TamperDetected("dns_settings")``. At stop it leaves the settings pointed at the agent:
the service restarts on its own, and a kiosk whose filter was stopped should fail closed;
``kiosk-agent uninstall`` restores the saved servers.
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
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.check()

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
        }


def create_watchdog(ctx: ServiceContext) -> DnsWatchdog:
    return DnsWatchdog(ctx)
