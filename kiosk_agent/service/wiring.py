"""The privileged service's wiring: which components run, in what order, until stopped.

The service is a set of components sharing one asyncio loop and one event bus. Each
component starts, stops and reports its status; ``build_components`` is the one place
that decides which run and in what order (start in order, stop in reverse).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
from collections.abc import Callable
from pathlib import Path

from kiosk_agent.config import Config
from kiosk_agent.service.context import Component, ComponentFactory, ServiceContext

log = logging.getLogger(__name__)


def build_components(ctx: ServiceContext) -> list[Component]:
    """The service's components in start order; a factory may return None (feature off).

    Ordering rules:
    - reporting first, so counters see every event the filter publishes from its first query;
    - the index/updater before the resolver, so the resolver answers from the last good
      list from its first query;
    - the control API last, so the UI never sees a half-started service.
    """
    from kiosk_agent.filter.blockpage import create_blockpage
    from kiosk_agent.filter.guard import create_guard
    from kiosk_agent.filter.p2p import p2p_component
    from kiosk_agent.filter.policy_watchdog import create_policy_watchdog
    from kiosk_agent.filter.resolver.component import create_resolver
    from kiosk_agent.filter.updater import create_updater
    from kiosk_agent.filter.watchdog import create_watchdog
    from kiosk_agent.hub.client import create_hub_client
    from kiosk_agent.hub.server import create_hub
    from kiosk_agent.reporting.component import make_reporting_component
    from kiosk_agent.service.control import create_control
    from kiosk_agent.updates.component import create_updates

    # The watchdog after the resolver: the system is pointed at the agent only once the
    # agent answers.
    # The URL proxy before the resolver: the resolver sends suspect hosts to it from its
    # first answer, so it must already listen.
    # The café hub (docs/cafe-hub.md) before the updater: the updater's first check asks
    # it first; both return None when cafe.hub is off.
    factories: list[ComponentFactory] = [
        make_reporting_component,
        create_hub,
        create_hub_client,
        create_updater,
        create_proxy,
        create_resolver,
        create_watchdog,
        create_policy_watchdog,
        create_blockpage,
        create_guard,  # the browser extension's loopback API (docs/browser-guard.md)
        p2p_component,
        create_updates,  # signed packs, overlays, key announcements (after the filter)
        create_control,
    ]
    components: list[Component] = []
    for factory in factories:
        component = factory(ctx)
        if component is not None:
            ctx.components[component.name] = component
            components.append(component)
    return components


def create_proxy(ctx: ServiceContext) -> Component | None:
    """The URL proxy when ``filter.proxy.enabled`` (off by default); its modules are
    imported only then, which keeps them off the way to the resolver's first answer."""
    if not ctx.config.filter.proxy.enabled:
        return None
    from kiosk_agent.filter.proxy.component import create_proxy as create

    return create(ctx)


def prepare_state_dir(path: Path) -> None:
    """Create the state folder for the service only (0700), and take away what other
    users may do in an existing one (the installer gives the UI group search rights,
    0710, which stay): indexes, counts and keys are the service's (docs/security.md)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o027:
        os.chmod(path, mode & 0o750)


def private_umask() -> None:
    """Files the service and its workers create (the outbox database, downloads) are
    theirs only; the ones the UI reads get their rights explicitly (control_token.py)."""
    os.umask(0o077)


def create_service(config: Config) -> Service:
    """The service for ``config`` with all its components, its state folder created.

    Call it inside the running event loop (components may bind to it). Raises
    ``UserError`` when the state folder cannot be created.
    """
    from kiosk_agent.errors import UserError

    try:
        prepare_state_dir(config.state_dir)
    except OSError as e:
        raise UserError(
            f"cannot create the state folder {config.state_dir}: {e.strerror}"
        ) from None
    from kiosk_agent.content import active

    # The block page draws the content pack applied in this state folder (docs/content.md).
    active.use_state_dir(config.state_dir)
    ctx = ServiceContext(config)
    return Service(ctx, build_components(ctx))


class Service:
    """Runs components until SIGTERM / SIGINT, then stops them in reverse order."""

    def __init__(self, ctx: ServiceContext, components: list[Component]) -> None:
        self.ctx = ctx
        self.components = components
        self._stopping = asyncio.Event()

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self, ready: Callable[[], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.request_stop)
        started: list[Component] = []
        try:
            for component in self.components:
                await component.start()
                started.append(component)
                log.info("started %s", component.name)
            if ready is not None:
                ready()
            await self._stopping.wait()
        finally:
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception:
                    log.exception("stopping %s failed", component.name)
            log.info("service stopped")
