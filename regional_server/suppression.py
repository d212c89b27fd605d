"""Small-cell suppression for tables of counts: a pure function and its result.

Primary suppression hides every count below the threshold (zero included: "fewer than
5" must not become "exactly 0 or 1" by elimination). Secondary suppression then makes
sure no hidden cell can be recovered from the totals shown beside it:

1. every *line* (a row or column with its total) holds no hidden cell or at least two
   (the usual rule of statistical offices), and
2. no hidden cell is a *bridge* in the graph whose nodes are the lines and whose edges
   are the hidden cells. Rule 1 alone is not enough: a hidden cell joining two groups
   of hidden cells can be solved for by adding and subtracting line totals. A cell on
   a cycle can move by +d, -d around the cycle with every total unchanged, so its
   value stays unknown. Lines without a shown total impose nothing and are merged
   into one free node.
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
    columns: int | None = None,
) -> SuppressedTable:
    """Hide counts below ``threshold`` and enough others that none can be recovered.

    ``cells`` is a rectangular matrix of non-negative counts. With ``col_totals`` a total
    row is shown (each column is a line); with ``row_totals`` a total column (each row
    is a line). ``force`` hides extra cells given as (row, column) of the table
    extended by its totals (used to keep a cell hidden that another table hid).
    ``columns`` is the width of a table that has no rows.
    """
    check_threshold(threshold)
    n_rows = len(cells)
    n_cols = len(cells[0]) if n_rows else (columns or 0)
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
        ext.append([sum(ext[i][j] for i in range(n_rows)) for j in range(n_cols + row_totals)])
    width = n_cols + row_totals
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

    def cost(c: tuple[int, int]) -> tuple[bool, int]:
        # Hide the smallest interior cell (it costs the reader least); a total only
        # when the line has nothing else left, e.g. the line of totals itself.
        return (c[0] in margin_rows or c[1] in margin_cols, ext[c[0]][c[1]])

    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(c in hidden for c in line) != 1:
                continue
            hidden.add(min((c for c in line if c not in hidden), key=cost))
            changed = True
        if changed:
            continue
        bridge = _find_bridge(hidden, row_lines=row_totals, col_lines=col_totals)
        if bridge is not None:
            i, j = bridge
            neighbours = [
                c
                for c in [(i, k) for k in range(width)] + [(k, j) for k in range(len(ext))]
                if c not in hidden
            ]
            if neighbours:
                hidden.add(min(neighbours, key=cost))
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


def _find_bridge(
    hidden: set[tuple[int, int]], *, row_lines: bool, col_lines: bool
) -> tuple[int, int] | None:
    """A hidden cell whose value the line totals determine (a bridge), or None.

    Nodes: ``("r", i)`` for a row that is a line, ``("c", j)`` for a column that is
    a line, and ``"free"`` for every row or column without a total. Edges: hidden cells.
    """
    if not hidden:
        return None
    edges: list[tuple[object, object, tuple[int, int]]] = []
    for i, j in sorted(hidden):
        a: object = ("r", i) if row_lines else "free"
        b: object = ("c", j) if col_lines else "free"
        edges.append((a, b, (i, j)))
    adj: dict[object, list[tuple[object, int]]] = {}
    for idx, (a, b, _c) in enumerate(edges):
        adj.setdefault(a, []).append((b, idx))
        adj.setdefault(b, []).append((a, idx))
    order: dict[object, int] = {}
    low: dict[object, int] = {}
    counter = 0
    for root in adj:
        if root in order:
            continue
        # Iterative Tarjan: (node, edge used to reach it, iterator position).
        order[root] = low[root] = counter
        counter += 1
        stack: list[tuple[object, int, int]] = [(root, -1, 0)]
        while stack:
            node, via, pos = stack[-1]
            if pos < len(adj[node]):
                stack[-1] = (node, via, pos + 1)
                nxt, eid = adj[node][pos]
                if eid == via:
                    continue
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append((nxt, eid, 0))
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        return edges[via][2]
    return None
