"""The café's link as the sum of its PCs' network cards (the hub's side).

Each kiosk sends its own card's cumulative byte counters in every heartbeat. The hub
adds each PC's increase since its previous heartbeat into café-wide counters and feeds
those to the same ``LinkMonitor`` a lone kiosk uses on its own card (rates over the last
windows, capacity from the daily peaks). A PC that restarts or joins adds nothing for
that beat (its counters start afresh), so joining PCs never look like a burst.

Blind spots (docs/cafe-hub.md): devices that are not kiosks (phones and laptops on the
café's Wi-Fi, the operator's own devices) are not seen; LAN traffic between PCs (the
hub serving a bundle to a kiosk) is counted although it never crosses the uplink, which
errs on the side of waiting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kiosk_agent.hub.registry import Heartbeat
from kiosk_agent.reporting.uploader import LinkMonitor, LinkReading

MAX_BEAT_GAP = 60.0
"""An increase over a longer silence is not used: spread over an unknown time it would
look like one burst."""


@dataclass
class CafeLink:
    rx: int = 0
    tx: int = 0
    monitor: LinkMonitor = field(default_factory=lambda: LinkMonitor())

    def __post_init__(self) -> None:
        self.monitor.read = self.totals

    def totals(self) -> tuple[int, int]:
        return self.rx, self.tx

    def add(self, beat: Heartbeat, previous: Heartbeat | None, gap: float | None) -> None:
        """Add one PC's increase since its previous heartbeat."""
        if previous is None or gap is None or gap > MAX_BEAT_GAP:
            return
        if beat.rx >= previous.rx and beat.tx >= previous.tx:
            self.rx += beat.rx - previous.rx
            self.tx += beat.tx - previous.tx

    def sample(self, now: float, monotonic: float | None = None) -> LinkReading | None:
        mono = time.monotonic() if monotonic is None else monotonic
        return self.monitor.sample(mono, int(now // 86400))
