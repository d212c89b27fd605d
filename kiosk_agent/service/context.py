"""What every component shares: the ``Component`` protocol and the ``ServiceContext``.

Imports none of the components, so they may all import it; the wiring
(``kiosk_agent/service/wiring.py``) stands above them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kiosk_agent.config import Config
from kiosk_agent.reporting.events import EventBus


class Component(Protocol):
    """One part of the service (resolver, updater, watchdog, control API, uploader, ...)."""

    name: str

    async def start(self) -> None:
        """Bind sockets, open files, start background tasks; raise if it cannot run."""
        ...

    async def stop(self) -> None:
        """Stop tasks and close resources; must not raise."""
        ...

    def status(self) -> dict[str, Any]:
        """A JSON-serializable summary for `kiosk-agent status` and the tray."""
        ...


@dataclass
class ServiceContext:
    """What every component may use: the config, the bus, and the service's own state."""

    config: Config
    bus: EventBus = field(default_factory=EventBus)
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir


ComponentFactory = Callable[[ServiceContext], Component | None]
