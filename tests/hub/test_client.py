"""The kiosk's hub client: heartbeats reach the hub's registry; a silent hub is dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kiosk_agent.config import CafeConfig, Config, FilterConfig, HostPort
from kiosk_agent.hub import client as client_mod
from kiosk_agent.hub.client import HubClient
from kiosk_agent.hub.server import HubComponent
from kiosk_agent.service.context import ServiceContext


def test_heartbeats_and_losing_the_hub(tmp_path: Path) -> None:
    async def run() -> None:
        hub = HubComponent(
            ServiceContext(
                Config(
                    state_dir=tmp_path / "hub",
                    cafe=CafeConfig(hub="this", hub_listen=HostPort("127.0.0.1", 0)),
                )
            )
        )
        await hub.start()
        assert hub.address is not None
        url = f"http://127.0.0.1:{hub.address[1]}"
        ctx = ServiceContext(
            Config(
                state_dir=tmp_path / "kiosk",
                cafe=CafeConfig(hub=url),
                filter=FilterConfig(upstreams=("127.0.0.1:9",)),
            )
        )
        client = HubClient(ctx)
        await client.start()
        try:
            assert await client.beat_once()
            assert client.current_hub() == url
            assert await client.beat_once()
            (entry,) = hub.registry.pcs.values()
            assert entry.beat.pc == client.pc and f"({client.pc[:6]})" in entry.beat.name
            # a kiosk with no list is not protected, and says why
            assert not entry.beat.protected and entry.beat.problems
            await hub.stop()
            for _ in range(client_mod.FAILURES_BEFORE_LOST):
                assert not await client.beat_once()
            assert client.current_hub() is None  # straight to the regional server now
        finally:
            await client.stop()
            await hub.stop()

    asyncio.run(run())
