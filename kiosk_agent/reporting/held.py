"""The signed things a kiosk holds, named in each report it sends (the server's fleet view)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiosk_agent.config_overlay import read_overlay
from kiosk_agent.content.active import read_pointer


@dataclass(frozen=True)
class Held:
    """Versions of the applied content pack and region overlay; None: built-in / none."""

    content: int | None = None
    settings: int | None = None


def held_versions(state_dir: Path) -> Held:
    """Read at each upload round (two small files), not at the cut: the fleet view asks
    what a kiosk holds now, and a report waiting in the outbox was cut earlier."""
    pointer = read_pointer(state_dir)
    overlay = read_overlay(state_dir)
    return Held(
        content=pointer[0] if pointer is not None else None,
        settings=overlay.version if overlay is not None else None,
    )
