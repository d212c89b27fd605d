"""The proxy as a service component: listeners from ``filter.proxy``, names via upstream.

The proxy reads the index the feed updater holds, resolves real servers through the
configured upstream DNS servers (``kiosk_agent.net.direct_dns``; never the local resolver,
which would send suspect hosts straight back here) and publishes on the service's bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kiosk_agent.filter.proxy.decide import UrlIndex, VisitWindow
from kiosk_agent.filter.proxy.locale_page import locale_block_pages
from kiosk_agent.filter.proxy.origin import OriginResolver
from kiosk_agent.filter.proxy.server import FilteringProxy, ProxySettings
from kiosk_agent.reporting.events import SessionStarted

if TYPE_CHECKING:
    from kiosk_agent.net.direct_dns import UpstreamLookup
    from kiosk_agent.reporting.events import Event
    from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)


class UpstreamOriginResolver:
    """Looks names up through the configured upstreams, off the event loop.

    The upstream list is worked out at the first lookup (not at start), so a kiosk whose
    saved DNS servers are missing still starts and says why in each failed lookup.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._lookup: UpstreamLookup | None = None

    def _get(self) -> UpstreamLookup:
        if self._lookup is None:
            from kiosk_agent.net.direct_dns import UpstreamLookup
            from kiosk_agent.net.direct_http import upstream_servers

            self._lookup = UpstreamLookup(
                upstream_servers(self.ctx.config), timeout=self.ctx.config.filter.upstream_timeout
            )
        return self._lookup

    async def __call__(self, host: str) -> Sequence[str]:
        lookup = self._get()
        return await asyncio.to_thread(lookup.lookup, host)


class ProxyComponent:
    """Runs the ``FilteringProxy`` on ``filter.proxy.http_listen`` / ``https_listen``."""

    name = "proxy"

    def __init__(
        self,
        ctx: ServiceContext,
        current_index: Callable[[], UrlIndex | None],
        resolve_origin: OriginResolver | None = None,
        settings: ProxySettings | None = None,
    ) -> None:
        cfg = ctx.config.filter.proxy
        self.ctx = ctx
        self.visits = VisitWindow()
        self.proxy = FilteringProxy(
            current_index,
            resolve_origin or UpstreamOriginResolver(ctx),
            ctx.bus.publish,
            settings=settings
            or ProxySettings(max_connections=cfg.max_connections, idle_timeout=cfg.idle_timeout),
            block_page=locale_block_pages(ctx.config.cafe.languages, ctx.config.cafe.country),
            visits=self.visits,
        )
        self._unsubscribe: Callable[[], None] | None = None

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.visits.reset()  # a new customer: their first visit counts again

    async def start(self) -> None:
        cfg = self.ctx.config.filter.proxy
        if cfg.http_listen.host != cfg.https_listen.host:
            log.warning(
                "filter.proxy.http_listen and https_listen differ in address: suspect hosts "
                "resolve to the http_listen address, so HTTPS to them will fail"
            )
        await self.proxy.start(cfg.http_listen, cfg.https_listen)
        self._unsubscribe = self.ctx.bus.subscribe(self._on_event, types=(SessionStarted,))

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.proxy.stop()

    def status(self) -> dict[str, Any]:
        cfg = self.ctx.config.filter.proxy
        return {
            "http_listen": str(cfg.http_listen),
            "https_listen": str(cfg.https_listen),
            **self.proxy.status(),
        }


def create_proxy(ctx: ServiceContext) -> ProxyComponent | None:
    """The factory ``build_components`` uses; None when ``filter.proxy.enabled`` is false.

    Reads the index the feed updater holds (``current_index``), like the resolver.
    """
    if not ctx.config.filter.proxy.enabled:
        return None
    current: Callable[[], UrlIndex | None] | None = getattr(
        ctx.components.get("updater"), "current_index", None
    )
    return ProxyComponent(ctx, current or (lambda: None))
