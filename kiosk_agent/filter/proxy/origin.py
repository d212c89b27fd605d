"""Finding and connecting to the real server behind a suspect host.

The local resolver answers suspect hosts with the proxy's own address, so the proxy
must never ask it (nor the system resolver, which points at it on an installed
kiosk): names are resolved through the configured upstream directly by an injected
``OriginResolver``. Addresses that would loop back to the proxy are refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence

OriginResolver = Callable[[str], Awaitable[Sequence[str]]]
"""Resolves a host name to its addresses through the upstream resolvers (never ours)."""


class OriginError(ConnectionError):
    """The real server could not be reached (no address, refused, timed out)."""


def usable_addresses(
    addresses: Iterable[str], port: int, own: Iterable[tuple[str, int]], allow_loopback: bool
) -> list[str]:
    """The addresses worth connecting to on ``port``, in order: never one of the proxy's
    own listeners (a loop), never unspecified ones (``0.0.0.0`` is how sinkholes answer),
    and loopback only when allowed (tests whose origin servers run on loopback)."""
    own_set = {(str(ipaddress.ip_address(a)), p) for a, p in own}
    out: list[str] = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if (str(ip), port) in own_set or ip.is_unspecified:
            continue
        if ip.is_loopback and not allow_loopback:
            continue
        if str(ip) not in out:
            out.append(str(ip))
    return out


async def _candidates(
    host: str,
    port: int,
    resolve: OriginResolver,
    own_addresses: Iterable[tuple[str, int]],
    allow_loopback: bool,
    timeout: float,
) -> list[str]:
    try:
        async with asyncio.timeout(timeout):
            found = await resolve(host)
    except Exception as e:  # any resolver failure (no such name, no upstream) is the same here
        raise OriginError("name resolution failed") from e
    candidates = usable_addresses(found, port, own_addresses, allow_loopback)
    if not candidates:
        raise OriginError("no usable address")
    return candidates


async def connect_origin(
    host: str,
    port: int,
    resolve: OriginResolver,
    *,
    own_addresses: Iterable[tuple[str, int]],
    allow_loopback: bool,
    timeout: float,
    limit: int,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a stream connection to ``host:port``, trying each usable address in turn."""
    last: BaseException | None = None
    for address in await _candidates(host, port, resolve, own_addresses, allow_loopback, timeout):
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.open_connection(address, port, limit=limit)
        except (OSError, TimeoutError) as e:
            last = e
    raise OriginError("could not connect") from last


async def connect_origin_transport(
    host: str,
    port: int,
    resolve: OriginResolver,
    protocol: asyncio.Protocol,
    *,
    own_addresses: Iterable[tuple[str, int]],
    allow_loopback: bool,
    timeout: float,
) -> asyncio.Transport:
    """Like ``connect_origin``, for a splice: the connection is driven by ``protocol``."""
    loop = asyncio.get_running_loop()
    last: BaseException | None = None
    for address in await _candidates(host, port, resolve, own_addresses, allow_loopback, timeout):
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(lambda: protocol, address, port)
                return transport
        except (OSError, TimeoutError) as e:
            last = e
    raise OriginError("could not connect") from last
