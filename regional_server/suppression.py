"""Small-cell suppression for tables of counts: a pure function and its result.

Primary suppression hides every count below the threshold (zero included: "fewer than
5" must not become "exactly 0 or 1" by elimination). Secondary suppression then makes
sure no hidden cell can be recovered by subtraction from the totals shown beside it:
every *line* (a row or column together with its total) holds either no hidden cell or
at least two. That is the standard rule statistical offices apply to published tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLD = 5
MIN_THRESHOLD = 3


@dataclass(frozen=True)
class SuppressedTable:
    """A table after suppression; ``None`` marks a hidden cell (shown as ``<threshold``).

    ``row_totals[i]`` sums row ``i``; ``col_totals[j]`` sums column ``j``; ``grand_total``
    sums everything. Totals that were not asked for are ``None`` lists / ``None``.
    """

    cells: list[list[int | None]]
    row_totals: list[int | None] | None
    col_totals: list[int | None] | None
    grand_total: int | None
    threshold: int

    def label(self, value: int | None) -> str:
        """How a cell is printed: the number, or ``<threshold`` when hidden."""
        return f"<{self.threshold}" if value is None else str(value)


def check_threshold(threshold: int) -> int:
    """The threshold itself, or ``ValueError`` when it is below the floor of 3."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < MIN_THRESHOLD:
        raise ValueError(f"suppression threshold must be an integer >= {MIN_THRESHOLD}")
    return threshold


def suppress_small_cells(
    cells: Sequence[Sequence[int]],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    row_totals: bool = False,
    col_totals: bool = True,
    force: frozenset[tuple[int, int]] = frozenset(),
) -> SuppressedTable:
    """Hide counts below ``threshold`` and enough others that none can be recovered.

    ``cells`` is a rectangular matrix of non-negative counts. With ``col_totals`` a total
    row is shown (each column is a line); with ``row_totals`` a total column (each row
    is a line). ``force`` hides extra cells given as (row, column) of the table
    extended by its totals (used to keep a cell hidden that another table hid).
    """
    check_threshold(threshold)
    n_rows = len(cells)
    n_cols = len(cells[0]) if n_rows else 0
    if any(len(r) != n_cols for r in cells):
        raise ValueError("cells must be a rectangular matrix")
    if any(v < 0 for r in cells for v in r):
        raise ValueError("counts must be non-negative")

    # The extended table: cells, then the total column, then the total row.
    ext: list[list[int]] = [list(r) for r in cells]
    if row_totals:
        for r in ext:
            r.append(sum(r))
    if col_totals:
        ext.append(
            [sum(ext[i][j] for i in range(n_rows)) for j in range(len(ext[0]) if ext else 0)]
        )
    width = len(ext[0]) if ext else 0
    margin_rows = {n_rows} if col_totals else set()
    margin_cols = {n_cols} if row_totals else set()

    lines: list[list[tuple[int, int]]] = []
    if col_totals:
        lines += [[(i, j) for i in range(len(ext))] for j in range(width)]
    if row_totals:
        lines += [[(i, j) for j in range(width)] for i in range(len(ext))]
    lines = [line for line in lines if len(line) >= 2]

    hidden = {(i, j) for i in range(len(ext)) for j in range(width) if ext[i][j] < threshold}
    hidden |= {c for c in force if 0 <= c[0] < len(ext) and 0 <= c[1] < width}

    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(c in hidden for c in line) != 1:
                continue
            candidates = [c for c in line if c not in hidden]
            # Hide the smallest interior cell (it costs the reader least); a total only
            # when the line has nothing else left, e.g. the line of totals itself.
            candidates.sort(
                key=lambda c: (c[0] in margin_rows or c[1] in margin_cols, ext[c[0]][c[1]])
            )
            hidden.add(candidates[0])
            changed = True

    def shown(i: int, j: int) -> int | None:
        return None if (i, j) in hidden else ext[i][j]

    out_cells = [[shown(i, j) for j in range(n_cols)] for i in range(n_rows)]
    out_row_totals = [shown(i, n_cols) for i in range(n_rows)] if row_totals else None
    out_col_totals = [shown(n_rows, j) for j in range(n_cols)] if col_totals else None
    grand: int | None = None
    if row_totals and col_totals:
        grand = shown(n_rows, n_cols)
    return SuppressedTable(out_cells, out_row_totals, out_col_totals, grand, threshold)
