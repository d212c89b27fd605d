"""The café's PCs as the hub knows them: each kiosk's heartbeat (its status in brief and
its network card's byte counters), parsed strictly, with the time it was last seen."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PC_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
MAX_PROBLEMS = 10
MAX_TEXT = 200
MAX_LISTS = 16
MAX_PCS = 256
"""A café has 5-40 PCs; the table is bounded so a hostile LAN host cannot grow it."""
HEARTBEAT_EVERY = 5.0
STALE_AFTER = 30.0
"""A PC not heard from for this long is shown as not protected (its service stopped,
or it is switched off, or it cannot reach the hub)."""
FORGET_AFTER = 7 * 86400.0


class HeartbeatError(ValueError):
    """A heartbeat that is not in the documented shape."""


@dataclass(frozen=True)
class ListInfo:
    list_id: str
    version: int
    updated_at: float | None


@dataclass(frozen=True)
class Heartbeat:
    """What a kiosk's service tells the hub every few seconds."""

    pc: str
    name: str
    rx: int
    tx: int
    protected: bool
    problems: tuple[str, ...] = ()
    paused_until: float | None = None
    lists: tuple[ListInfo, ...] = ()
    ui_running: bool | None = None
    notices_today: int = 0
    kiosk_id: str | None = None


def _text(value: object, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise HeartbeatError(f"{what} is not a short text")
    return value


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise HeartbeatError(f"{what} is not a count")
    return value


def _time(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e11:
        raise HeartbeatError(f"{what} is not a time")
    return float(value)


def parse_heartbeat(obj: object) -> Heartbeat:
    """A heartbeat from its JSON object; ``HeartbeatError`` for anything else."""
    if not isinstance(obj, dict):
        raise HeartbeatError("a heartbeat is a JSON object")
    pc = obj.get("pc")
    if not isinstance(pc, str) or not PC_ID.match(pc):
        raise HeartbeatError("pc is not an id")
    name = _text(obj.get("name", pc), "name", 64)
    protected = obj.get("protected")
    if not isinstance(protected, bool):
        raise HeartbeatError("protected is not true or false")
    problems = obj.get("problems", [])
    if not isinstance(problems, list) or len(problems) > MAX_PROBLEMS:
        raise HeartbeatError("problems is not a short list")
    lists_in = obj.get("lists", [])
    if not isinstance(lists_in, list) or len(lists_in) > MAX_LISTS:
        raise HeartbeatError("lists is not a short list")
    lists = []
    for item in lists_in:
        if not isinstance(item, dict):
            raise HeartbeatError("a list entry is not an object")
        lists.append(
            ListInfo(
                _text(item.get("list_id"), "list_id", 64),
                _count(item.get("version"), "version"),
                _time(item.get("updated_at"), "updated_at"),
            )
        )
    ui = obj.get("ui_running")
    if ui is not None and not isinstance(ui, bool):
        raise HeartbeatError("ui_running is not true, false or null")
    kiosk_id = obj.get("kiosk_id")
    if kiosk_id is not None:
        kiosk_id = _text(kiosk_id, "kiosk_id", 64)
    return Heartbeat(
        pc=pc,
        name=name,
        rx=_count(obj.get("rx"), "rx"),
        tx=_count(obj.get("tx"), "tx"),
        protected=protected,
        problems=tuple(_text(p, "a problem") for p in problems),
        paused_until=_time(obj.get("paused_until"), "paused_until"),
        lists=tuple(lists),
        ui_running=ui,
        notices_today=_count(obj.get("notices_today", 0), "notices_today"),
        kiosk_id=kiosk_id,
    )


def heartbeat_from_status(
    pc: str, name: str, rx: int, tx: int, status: dict[str, Any]
) -> dict[str, Any]:
    """A kiosk's heartbeat JSON from its service status (``kiosk-agent status --json``)."""
    filt = status.get("filter") if isinstance(status.get("filter"), dict) else {}
    assert isinstance(filt, dict)
    lists = [
        {
            "list_id": i.get("list_id"),
            "version": i.get("version"),
            "updated_at": i.get("updated_at"),
        }
        for i in (filt.get("lists") or [])[:MAX_LISTS]
        if isinstance(i, dict)
        and isinstance(i.get("list_id"), str)
        and isinstance(i.get("version"), int)
    ]
    problems = [str(p)[:MAX_TEXT] for p in (status.get("problems") or [])][:MAX_PROBLEMS]
    components = status.get("components") if isinstance(status.get("components"), dict) else {}
    assert isinstance(components, dict)
    reporting = components.get("reporting") if isinstance(components.get("reporting"), dict) else {}
    hub = components.get("hub-client") if isinstance(components.get("hub-client"), dict) else {}
    assert isinstance(reporting, dict) and isinstance(hub, dict)
    paused = filt.get("paused_until")
    return {
        "pc": pc,
        "name": name[:64],
        "rx": rx,
        "tx": tx,
        "protected": bool(status.get("protected")),
        "problems": problems,
        "paused_until": paused if isinstance(paused, int | float) else None,
        "lists": lists,
        "ui_running": hub.get("ui_running") if isinstance(hub.get("ui_running"), bool) else None,
        "notices_today": int(hub.get("notices_today") or 0),
        "kiosk_id": reporting.get("kiosk_id")
        if isinstance(reporting.get("kiosk_id"), str)
        else None,
    }


@dataclass
class PcEntry:
    beat: Heartbeat
    last_seen: float
    first_seen: float


@dataclass
class Registry:
    """The PCs that sent a heartbeat, by id (bounded; the oldest is forgotten first)."""

    pcs: dict[str, PcEntry] = field(default_factory=dict)

    def update(self, beat: Heartbeat, now: float) -> tuple[Heartbeat | None, float | None]:
        """Record a heartbeat; returns the PC's previous heartbeat and when it came."""
        old = self.pcs.get(beat.pc)
        if old is None and len(self.pcs) >= MAX_PCS:
            oldest = min(self.pcs.values(), key=lambda e: e.last_seen)
            del self.pcs[oldest.beat.pc]
        self.pcs[beat.pc] = PcEntry(beat, now, old.first_seen if old else now)
        for pc in [p for p, e in self.pcs.items() if now - e.last_seen > FORGET_AFTER]:
            del self.pcs[pc]
        return (old.beat, old.last_seen) if old else (None, None)

    def live(self, now: float) -> list[PcEntry]:
        return [e for e in self.pcs.values() if now - e.last_seen <= STALE_AFTER]
