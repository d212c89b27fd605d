"""The handler interface every link of the resolver chain implements.

``resolve(query)`` returns an ``Answer``: the response bytes when the handler can answer
at once (blocked, cached), or a future of them when it has to wait for the network
(upstream). Returning bytes directly keeps the hot path free of coroutines and tasks:
a blocked or cached answer is produced and sent inside the socket's read callback.
A handler that does not answer itself returns ``self.next.resolve(query)``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, TypeAlias

from kiosk_agent.net.wire import Query

Answer: TypeAlias = "bytes | asyncio.Future[bytes]"


class Handler(Protocol):
    """One link of the chain."""

    name: str

    def resolve(self, query: Query) -> Answer:
        """Answer ``query`` (bytes or a future of bytes); never raises for a bad name."""
        ...

    def status(self) -> dict[str, object]:
        """A JSON-serializable summary for `kiosk-agent status`."""
        ...


class FilterSwitch:
    """Whether filtering links act; the operator's pause turns them off for a while.

    A paused link stays in the chain and passes queries on (one attribute read per
    query); the canary answer stays on, since it only keeps browsers on this resolver.
    """

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True


class Link:
    """Base for handlers that may pass a query on: holds ``next``."""

    name = "link"

    def __init__(self, next: Handler) -> None:
        self.next = next

    def status(self) -> dict[str, object]:
        return {}


async def answer_bytes(answer: Answer) -> bytes:
    """Await an ``Answer`` whichever form it has (for callers outside the hot path)."""
    if isinstance(answer, bytes):
        return answer
    return await answer
