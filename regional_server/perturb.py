"""The cell key method (as in the ABS TableBuilder): every published count is perturbed.

Each stored report carries a random *record key* (``new_record_key``, set at ingest and
kept server-side); each kiosk one too, for the coverage figures. A published cell's key
is the sum of its records' keys modulo ``KEY_RANGE``; the noise added to the cell is
read from a fixed table at (cell value, cell key). So:

- the same records give the same cell key, hence the same figure in every query, page,
  CSV or JSON: asking again, or in another view, tells nothing new;
- two queries that differ by a few records have unrelated cell keys, so subtracting
  their figures gives the difference plus the difference of two independent noises,
  not the small count it used to give exactly;
- a total is a cell of its own (its records' keys summed), never the sum of perturbed
  cells.

The noise of a cell of value ``n`` is drawn (through its key) from a symmetric
distribution on ``-m..m``, ``m = min(n, max_noise)``, with probabilities proportional to
``exp(-λ d²)`` and λ chosen for the configured variance (or the uniform distribution
when the variance cannot be reached on ``-m..m``). Symmetric, so the noise is unbiased;
never below ``-n``, so no figure is negative; and a zero has no records, so it stays
zero: no noise makes a count appear from nothing. ``publish`` is the one function
every published count goes through; below the threshold it returns ``None`` (``<5``).
"""

from __future__ import annotations

import bisect
import functools
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

KEY_RANGE = 2**32
"""Record and cell keys are integers in ``[0, KEY_RANGE)``; a cell key is a sum mod it."""
DEFAULT_MAX_NOISE = 3
DEFAULT_NOISE_VARIANCE = 3.0
MIN_THRESHOLD = 3
DEFAULT_THRESHOLD = 5


def new_record_key() -> int:
    """A fresh random record key (for a stored report, or an enrolled kiosk)."""
    return secrets.randbelow(KEY_RANGE)


@dataclass(frozen=True)
class Cell:
    """An unperturbed count and the key of the records it sums (server-side only)."""

    value: int = 0
    key: int = 0
    hidden: int = 0
    """Parts of this sum that were published hidden (``<5``) by the server that
    computed them (a child server, docs/national-view.md): their values are unknown
    here and add nothing to ``value``. A sum of hidden parts only is hidden."""

    def __add__(self, other: Cell) -> Cell:
        return Cell(
            self.value + other.value, (self.key + other.key) % KEY_RANGE, self.hidden + other.hidden
        )


def cell_sum(cells: Iterable[Cell]) -> Cell:
    value = key = hidden = 0
    for c in cells:
        value += c.value
        key += c.key
        hidden += c.hidden
    return Cell(value, key % KEY_RANGE, hidden)


def _row(m: int, variance: float) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Noises ``-m..m`` and their cumulative probabilities for a cell whose value
    allows at most ``m`` either way."""
    support = tuple(range(-m, m + 1))
    if m == 0:
        return support, (1.0,)

    def weights(lam: float) -> list[float]:
        return [math.exp(-lam * d * d) for d in support]

    def var(lam: float) -> float:
        w = weights(lam)
        return sum(x * d * d for x, d in zip(w, support, strict=True)) / sum(w)

    lam = 0.0  # the uniform distribution: the largest variance without a gap at 0
    if variance < var(0.0):
        lo, hi = 0.0, 1.0
        while var(hi) > variance:
            hi *= 2
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if var(mid) > variance else (lo, mid)
        lam = (lo + hi) / 2
    w = weights(lam)
    total = sum(w)
    cumulative: list[float] = []
    acc = 0.0
    for x in w:
        acc += x / total
        cumulative.append(acc)
    cumulative[-1] = 1.0
    return support, tuple(cumulative)


@dataclass(frozen=True)
class NoiseTable:
    """The fixed lookup (cell value, cell key) -> noise. Build with ``noise_table``."""

    max_noise: int
    variance: float
    rows: tuple[tuple[tuple[int, ...], tuple[float, ...]], ...]

    def noise(self, value: int, key: int) -> int:
        if value <= 0:
            return 0
        support, cumulative = self.rows[min(value, self.max_noise)]
        u = (key % KEY_RANGE) / KEY_RANGE
        return support[min(bisect.bisect_right(cumulative, u), len(support) - 1)]

    def probabilities(self, value: int) -> dict[int, float]:
        """The noise distribution for a cell of ``value`` (for tests and docs)."""
        support, cumulative = self.rows[min(max(value, 0), self.max_noise)]
        previous = 0.0
        out: dict[int, float] = {}
        for d, c in zip(support, cumulative, strict=True):
            out[d] = c - previous
            previous = c
        return out


@functools.cache
def noise_table(
    max_noise: int = DEFAULT_MAX_NOISE, variance: float = DEFAULT_NOISE_VARIANCE
) -> NoiseTable:
    """The noise table for these parameters (``max_noise`` 0 perturbs nothing)."""
    if max_noise < 0 or (max_noise > 0 and variance <= 0):
        raise ValueError("max_noise must be >= 0 and the variance > 0")
    rows = tuple(_row(m, variance) for m in range(max_noise + 1))
    return NoiseTable(max_noise, variance, rows)


NO_NOISE = noise_table(0, 1.0)


def check_threshold(threshold: int) -> int:
    """The threshold itself, or ``ValueError`` when it is below the floor of 3."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < MIN_THRESHOLD:
        raise ValueError(f"suppression threshold must be an integer >= {MIN_THRESHOLD}")
    return threshold


def perturbed(cell: Cell, table: NoiseTable) -> int:
    """The cell's value with its noise (never negative; zero stays zero)."""
    return cell.value + table.noise(cell.value, cell.key)


def publish(cell: Cell, table: NoiseTable, threshold: int) -> int | None:
    """What is published for ``cell``: the perturbed count, or ``None`` (shown as
    ``<threshold``) when the perturbed count is below the threshold (zero included)."""
    value = perturbed(cell, table)
    return value if value >= threshold else None


def published_cell(cell: Cell, table: NoiseTable, threshold: int) -> Cell:
    """``cell`` as it is published, as a part of sums made from published figures
    only: the perturbed count (key 0), a true zero, or a hidden part (value 0)."""
    value = publish(cell, table, threshold)
    if value is not None:
        return Cell(value)
    return Cell() if cell.value == 0 and not cell.hidden else Cell(0, 0, 1)
