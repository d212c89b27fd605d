"""Which tip the notice shows next: rotation per PC, so a customer seldom sees a repeat.

``next_tip`` is pure: it picks at random among the tips not shown in the last half of the
pool (never the one just shown, when there are two or more). The history lives in one
small JSON file in the state folder (``notice-tips.json``, written atomically); it is per
PC, never per person, and holds tip ids only.

Only ``os`` here, no ``random`` / ``tempfile``: with them (and the ``shutil``, ``bz2`` and
``lzma`` that ``tempfile`` pulls in) the idle UI was 0.2 MB larger.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from kiosk_agent.contracts.tips import TIP_ID

Pick = Callable[[int], int]
"""Returns a number in ``range(n)``: which of ``n`` candidates to take."""

log = logging.getLogger(__name__)

HISTORY_FILE = "notice-tips.json"
HISTORY_MAX = 40


def system_pick(n: int) -> int:
    """A random index below ``n`` from the OS (the bias of 2**32 % n is irrelevant)."""
    return int.from_bytes(os.urandom(4), "big") % n


def next_tip(tip_ids: Sequence[str], recent: Sequence[str], pick: Pick = system_pick) -> str:
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
    return candidates[pick(len(candidates))]


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

    def __init__(self, state_dir: Path | None, pick: Pick = system_pick) -> None:
        self.path = Path(state_dir) / HISTORY_FILE if state_dir is not None else None
        self.pick = pick
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
        tip = next_tip(tip_ids, self.recent, self.pick)
        self.recent = [*self.recent, tip][-HISTORY_MAX:]
        self._save()
        return tip

    def _save(self) -> None:
        if self.path is None:
            return
        body = json.dumps({"recent": self.recent}).encode()
        try:
            _write_atomic(self.path, body)
        except OSError as e:
            # The customer's session may not write the service's state folder: the
            # rotation then lasts as long as this process, which is still per PC.
            if not self._warned:
                log.warning("tip history not saved (%s): rotation kept in memory", e)
                self._warned = True


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old or the new file
    (``kiosk_agent.atomic`` without its ``tempfile`` import; one writer per PC)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
