"""The transport-level splice: half-close, early close, and bytes passed on unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kiosk_agent.config import HostPort
from kiosk_agent.filter.proxy.server import FilteringProxy, ProxySettings
from tests.filter.proxy.test_server import INDEX
from tests.filter.proxy.test_tls import hello_with_extensions, sni_extension

HELLO = hello_with_extensions(sni_extension(b"other.example"))


async def _counting_origin() -> tuple[asyncio.Server, list[bytes]]:
    """Reads everything until the client's EOF, then answers with what it got and closes."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        seen.append(data)
        writer.write(b"got %d" % len(data))
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), seen


def test_half_close_passes_through_and_bytes_are_unchanged() -> None:
    async def main() -> None:
        origin, seen = await _counting_origin()

        async def resolve(host: str) -> Sequence[str]:
            return ["127.0.0.1"]

        proxy = FilteringProxy(
            lambda: INDEX,
            resolve,
            lambda e: None,
            settings=ProxySettings(
                origin_https_port=origin.sockets[0].getsockname()[1],
                allow_loopback_origins=True,
                idle_timeout=5,
            ),
        )
        await proxy.start(None, HostPort("127.0.0.1", 0))
        assert proxy.https_address is not None
        try:
            payload = bytes(range(256)) * 4000  # about 1 MB after the hello
            reader, writer = await asyncio.open_connection(*proxy.https_address)
            writer.write(HELLO + payload)
            writer.write_eof()  # the origin answers only after our EOF reaches it
            async with asyncio.timeout(5):
                answer = await reader.read()
            assert answer == b"got %d" % (len(HELLO) + len(payload))
            assert seen == [HELLO + payload]
            writer.close()
            # A client that disappears right after its hello: no leak, no hang.
            reader, writer = await asyncio.open_connection(*proxy.https_address)
            writer.write(HELLO)
            writer.transport.abort()
            await asyncio.sleep(0.3)
            assert proxy.stats.active == 0
        finally:
            await proxy.stop()
            origin.close()
            await origin.wait_closed()

    asyncio.run(main())
