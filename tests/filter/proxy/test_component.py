"""The proxy as a service component: config, locales, session resets, upstream names."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from kiosk_agent.config import Config, FilterConfig, HostPort, ProxyConfig, parse_config
from kiosk_agent.content.locales import load_locale
from kiosk_agent.filter.proxy.component import (
    ProxyComponent,
    UpstreamOriginResolver,
    create_proxy,
)
from kiosk_agent.filter.proxy.decide import URL_UNVERIFIABLE
from kiosk_agent.filter.proxy.server import ProxySettings
from kiosk_agent.reporting.events import Blocked, Event, SessionStarted
from kiosk_agent.service.context import ServiceContext
from tests.filter.proxy.origins import TlsOrigin, make_cert
from tests.filter.proxy.test_server import INDEX
from tests.filter.resolver.helpers import ScriptedUpstream


def context(tmp_path: Path) -> ServiceContext:
    base = parse_config(f"state_dir: {tmp_path}\ncafe: {{languages: [sw, en]}}\n")
    cfg = replace(
        base,
        filter=replace(
            base.filter,
            proxy=replace(
                ProxyConfig(),
                enabled=True,
                http_listen=HostPort("127.0.0.1", 0),
                https_listen=HostPort("127.0.0.1", 0),
            ),
        ),
    )
    return ServiceContext(cfg)


def test_disabled_by_default(tmp_path: Path) -> None:
    assert create_proxy(ServiceContext(Config(state_dir=tmp_path))) is None
    component = create_proxy(context(tmp_path))
    assert isinstance(component, ProxyComponent)
    assert component.proxy.index_source() is None  # no updater yet: nothing listed


def test_component_serves_localized_block_page_and_resets_visits(tmp_path: Path) -> None:
    cert, key, _ = make_cert(tmp_path, ["site.example"])

    async def main() -> None:
        tls_origin = await TlsOrigin(cert, key).start()
        ctx = context(tmp_path)
        events: list[Event] = []
        ctx.bus.subscribe(events.append)

        async def resolve(host: str) -> Sequence[str]:
            return ["127.0.0.1"]

        settings = ProxySettings(
            origin_https_port=tls_origin.port, allow_loopback_origins=True, idle_timeout=5
        )
        component = ProxyComponent(ctx, lambda: INDEX, resolve, settings)
        await component.start()
        try:
            assert component.proxy.http_address is not None
            reader, writer = await asyncio.open_connection(*component.proxy.http_address)
            writer.write(
                b"GET /bad/x HTTP/1.1\r\nHost: site.example\r\nAccept-Language: sw\r\n"
                b"Connection: close\r\n\r\n"
            )
            page = (await reader.read()).decode()
            writer.close()
            assert page.startswith("HTTP/1.1 403")
            assert load_locale("sw").text("block_page.title") in page

            import ssl

            ctx_tls = ssl.create_default_context(cafile=str(cert))
            assert component.proxy.https_address is not None
            for _ in range(2):
                for _ in range(2):
                    r, w = await asyncio.open_connection(
                        *component.proxy.https_address,
                        ssl=ctx_tls,
                        server_hostname="site.example",
                    )
                    w.write(b"x")
                    await r.readexactly(6)
                    w.close()
                    await w.wait_closed()  # the TLS shutdown goes through the splice too
                ctx.bus.publish(SessionStarted("login"))
            status = component.status()
            assert status["tls_unverifiable"] == 2 and status["http_blocked"] == 1
        finally:
            await component.stop()
            await tls_origin.stop()
        unverifiable = [e for e in events if e == Blocked(URL_UNVERIFIABLE)]
        assert len(unverifiable) == 2  # once per visit, and a new session is a new visit

    asyncio.run(main())


def test_origin_names_resolve_through_the_configured_upstream(tmp_path: Path) -> None:
    upstream = ScriptedUpstream(answer_ip="192.0.2.7")
    address = upstream.start()
    try:
        ctx = context(tmp_path)
        ctx.config = replace(
            ctx.config, filter=replace(ctx.config.filter, upstreams=(str(address),))
        )
        resolver = UpstreamOriginResolver(ctx)
        assert list(asyncio.run(resolver("site.example"))) == ["192.0.2.7"]
        assert upstream.udp_queries >= 1
    finally:
        upstream.stop()
    assert FilterConfig().proxy.http_listen == HostPort("127.0.0.10", 80)
