"""Keeps the browsers' guard policies in place (issue 23): the installer writes them and
saves what it wrote (``state_dir/browser-policies.json``); every ``filter.watchdog_every``
this component checks them, writes back what was removed or changed, and emits
``TamperDetected("policy_removed")`` (counted as ``tamper.policy_removed``).

Without the saved file (not installed by the installer, or a demo) it does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk_agent.platform.base import PlatformError
from kiosk_agent.platform.browser_policies import load_policy
from kiosk_agent.reporting.events import TamperDetected

if TYPE_CHECKING:
    from kiosk_agent.platform.base import BrowserPolicies
    from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)

TAMPER_KIND = "policy_removed"


class PolicyWatchdog:
    """The ``policy_watchdog`` service component."""

    name = "policy_watchdog"

    def __init__(
        self, ctx: ServiceContext, browsers: BrowserPolicies | None = None, root: Path = Path("/")
    ) -> None:
        self.ctx = ctx
        self.root = root
        self._browsers = browsers
        self.every = ctx.config.filter.watchdog_every
        self.restored = 0
        self.missing: list[str] = []
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def browsers(self) -> BrowserPolicies:
        if self._browsers is None:
            from kiosk_agent.platform import current

            self._browsers = current()
        return self._browsers

    async def start(self) -> None:
        if load_policy(self.ctx.state_dir) is None:
            return  # nothing was installed: nothing to keep
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.every)

    async def check(self) -> bool:
        """One check; writes back and reports what was removed. True when intact."""
        policy = load_policy(self.ctx.state_dir)
        if policy is None:
            return True
        try:
            missing = await asyncio.to_thread(
                self.browsers.missing_browser_policies, self.root, policy
            )
            self.missing = missing
            if not missing:
                return True
            log.warning("browser guard policies were removed or changed: writing them back")
            self.ctx.bus.publish(TamperDetected(TAMPER_KIND))
            await asyncio.to_thread(self.browsers.write_browser_policies, self.root, policy)
            self.restored += 1
            self.missing = []
            self.last_error = None
        except (PlatformError, OSError) as e:
            self.last_error = str(e)
            log.error("cannot restore the browser guard policies: %s", e)
        return False

    def status(self) -> dict[str, Any]:
        return {
            "watching": self._task is not None,
            "restored": self.restored,
            "missing": len(self.missing),
            "last_error": self.last_error,
        }


def create_policy_watchdog(ctx: ServiceContext) -> PolicyWatchdog:
    return PolicyWatchdog(ctx)
