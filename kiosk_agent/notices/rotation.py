"""Which tip the notice shows next: rotation per PC, so a customer seldom sees a repeat.

``next_tip`` is pure: it picks at random among the tips not shown in the last half of the
pool (never the one just shown, when there are two or more). The history lives in one
small JSON file in the state folder (``notice-tips.json``, written atomically); it is per
PC, never per person, and holds tip ids only.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

from kiosk_agent.atomic import write_atomic
from kiosk_agent.contracts.tips import TIP_ID

log = logging.getLogger(__name__)

HISTORY_FILE = "notice-tips.json"
HISTORY_MAX = 40


def next_tip(tip_ids: Sequence[str], recent: Sequence[str], rng: random.Random) -> str:
    """A tip id from ``tip_ids`` avoiding the most recent ones (``recent``: newest last).

    The last ``len(tip_ids) // 2`` shown are avoided, so with 12 tips a tip comes back
    after at least 6 other notices; the choice among the rest is random so the order is
    not learnt by heart.
    """
    if not tip_ids:
        raise ValueError("no tips to choose from")
    avoid_count = len(tip_ids) // 2
    avoid = set(recent[-avoid_count:]) if avoid_count else set()
    candidates = [t for t in tip_ids if t not in avoid]
    if not candidates:  # the history names every tip (the pool shrank): avoid the last one
        candidates = [t for t in tip_ids if not recent or t != recent[-1]] or list(tip_ids)
    return rng.choice(candidates)


def parse_history(text: str) -> list[str]:
    """The tip ids in a history file's text; anything unexpected reads as no history."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    recent = data.get("recent") if isinstance(data, dict) else None
    if not isinstance(recent, list):
        return []
    return [t for t in recent if isinstance(t, str) and TIP_ID.fullmatch(t)][-HISTORY_MAX:]


class TipRotation:
    """The history file of one PC, and the next tip to show."""

    def __init__(self, state_dir: Path | None, rng: random.Random | None = None) -> None:
        self.path = Path(state_dir) / HISTORY_FILE if state_dir is not None else None
        self.rng = rng or random.Random()
        self.recent: list[str] = self._load()
        self._warned = False

    def _load(self) -> list[str]:
        if self.path is None:
            return []
        try:
            return parse_history(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return []

    def choose(self, tip_ids: Sequence[str]) -> str:
        """The next tip, recorded in the history (saved; kept in memory if unwritable)."""
        tip = next_tip(tip_ids, self.recent, self.rng)
        self.recent = [*self.recent, tip][-HISTORY_MAX:]
        self._save()
        return tip

    def _save(self) -> None:
        if self.path is None:
            return
        body = json.dumps({"recent": self.recent}).encode()
        try:
            write_atomic(self.path, body)
        except OSError as e:
            # The customer's session may not write the service's state folder: the
            # rotation then lasts as long as this process, which is still per PC.
            if not self._warned:
                log.warning("tip history not saved (%s): rotation kept in memory", e)
                self._warned = True
