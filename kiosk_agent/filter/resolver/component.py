"""The resolver as a service component: chain + server, operator pause, status."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from kiosk_agent.config import HostPort
from kiosk_agent.filter.resolver.blocklist import HostIndex
from kiosk_agent.filter.resolver.chain import Chain, build_chain
from kiosk_agent.filter.resolver.handler import FilterSwitch
from kiosk_agent.filter.resolver.server import DnsServer
from kiosk_agent.net.upstreams import configured_upstreams
from kiosk_agent.reporting.events import TamperDetected
from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)

MAX_PAUSE_MINUTES = 240


class ResolverComponent:
    """Answers DNS on ``filter.listen`` from the current index and the upstreams."""

    name = "resolver"

    def __init__(
        self,
        ctx: ServiceContext,
        current_index: Callable[[], HostIndex | None],
        upstreams: list[HostPort] | None = None,
    ) -> None:
        self.ctx = ctx
        self.current_index = current_index
        self._upstreams = upstreams
        self.switch = FilterSwitch()
        self.chain: Chain | None = None
        self.server: DnsServer | None = None
        self.started_at: float | None = None
        self.paused_until: float | None = None
        self._resume: asyncio.TimerHandle | None = None

    def upstreams(self) -> list[HostPort]:
        if self._upstreams is not None:
            return self._upstreams
        return configured_upstreams(self.ctx.config)

    async def start(self) -> None:
        upstreams = self.upstreams()
        if not upstreams:
            log.warning("no upstream DNS server known: only blocked names will be answered")
        self.chain = build_chain(
            self.ctx.config.filter, upstreams, self.current_index, self.ctx.bus, self.switch
        )
        self.server = DnsServer(self.chain.head, self.ctx.config.filter.listen)
        await self.server.start()
        self.started_at = time.time()
        log.info("resolver answering on %s", ", ".join(map(str, self.server.addresses)))

    async def stop(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
        if self.server is not None:
            await self.server.stop()
        if self.chain is not None:
            self.chain.safe_search.close()
            await self.chain.upstream.close()

    # -- operator pause ----------------------------------------------------------------

    def pause(self, minutes: float) -> float:
        """Stop filtering for ``minutes`` (1-240); returns when it resumes (epoch seconds).

        Counted as ``TamperDetected("operator_pause")``: a pause is legitimate, but the
        coordinator must see how often filtering was off.
        """
        minutes = max(1.0, min(float(minutes), MAX_PAUSE_MINUTES))
        loop = asyncio.get_running_loop()
        if self._resume is not None:
            self._resume.cancel()
        self.switch.on = False
        self.paused_until = time.time() + minutes * 60
        self._resume = loop.call_later(minutes * 60, self.resume)
        self.ctx.bus.publish(TamperDetected("operator_pause"))
        log.info("filtering paused by the operator for %g minutes", minutes)
        return self.paused_until

    def resume(self) -> None:
        self.switch.on = True
        self.paused_until = None
        self._resume = None

    # -- status --------------------------------------------------------------------------

    @property
    def answering(self) -> bool:
        return self.server is not None and bool(self.server.addresses)

    def blocked_count(self) -> int:
        if self.chain is None:
            return 0
        return self.chain.blocklist.blocked + self.chain.bypass_guard.doh_blocked

    def status(self) -> dict[str, object]:
        if self.chain is None or self.server is None:
            return {"answering": False}
        server = self.server.status()
        return {
            "answering": self.answering,
            "listening": server["listening"],
            "queries_answered": server["queries"],
            "queries_blocked": self.blocked_count(),
            "paused_until": self.paused_until,
            "list_loaded": self.current_index() is not None,
            "server": server,
            **self.chain.status(),
        }


def create_resolver(ctx: ServiceContext) -> ResolverComponent:
    """The factory ``build_components`` uses: reads the index the updater holds, if any."""
    updater = ctx.components.get("updater")
    current = getattr(updater, "current_index", None)
    if current is None:
        return ResolverComponent(ctx, lambda: None)
    return ResolverComponent(ctx, current)
