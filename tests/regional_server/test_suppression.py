"""suppress_small_cells: primary and secondary suppression, checked by linear algebra."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regional_server.suppression import SuppressedTable, suppress_small_cells


def _rank(rows: list[list[Fraction]]) -> int:
    m = [r[:] for r in rows]
    rank = 0
    cols = len(m[0]) if m else 0
    for c in range(cols):
        pivot = next((r for r in range(rank, len(m)) if m[r][c] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for r in range(len(m)):
            if r != rank and m[r][c] != 0:
                f = m[r][c] / m[rank][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[rank], strict=True)]
        rank += 1
    return rank


def recoverable_cells(
    cells: list[list[int]], out: SuppressedTable, row_totals: bool, col_totals: bool
) -> list[tuple[int, int]]:
    """Hidden cells whose value follows from the shown cells and totals (linear algebra,
    independent of the implementation's graph argument)."""
    n, m = len(cells), len(cells[0]) if cells else 0
    grid: list[list[int | None]] = [list(r) for r in out.cells]
    if row_totals:
        assert out.row_totals is not None
        for i in range(n):
            grid[i].append(out.row_totals[i])
    if col_totals:
        assert out.col_totals is not None
        last: list[int | None] = list(out.col_totals)
        if row_totals:
            last.append(out.grand_total)
        grid.append(last)
    width = m + (1 if row_totals else 0)
    unknowns = [(i, j) for i in range(len(grid)) for j in range(width) if grid[i][j] is None]
    index = {c: k for k, c in enumerate(unknowns)}
    equations: list[list[Fraction]] = []

    def line(cells_: list[tuple[int, int]], total: tuple[int, int]) -> None:
        row = [Fraction(0)] * len(unknowns)
        for c in cells_:
            if c in index:
                row[index[c]] += 1
        if total in index:
            row[index[total]] -= 1
        if any(row):
            equations.append(row)

    if col_totals:
        for j in range(width):
            line([(i, j) for i in range(n)], (n, j))
    if row_totals:
        for i in range(len(grid)):
            line([(i, j) for j in range(m)], (i, m))
    if not equations:
        return []
    base = _rank(equations)
    found = []
    for c, k in index.items():
        unit = [Fraction(0)] * len(unknowns)
        unit[k] = Fraction(1)
        if _rank([*equations, unit]) == base:
            found.append(c)
    return found


def test_small_cells_are_hidden_and_label_says_below_threshold() -> None:
    out = suppress_small_cells([[10, 2], [20, 30]], 5, row_totals=False, col_totals=True)
    assert out.cells[0][1] is None
    assert out.label(out.cells[0][1]) == "<5"
    # Column 1 had one hidden cell next to its total: a second one is hidden with it.
    assert out.cells[1][1] is None
    assert out.cells[0][0] == 10 and out.cells[1][0] == 20
    assert out.col_totals == [30, 32]


def test_zero_is_a_small_count_too() -> None:
    out = suppress_small_cells([[0], [7], [9]], 5)
    assert out.cells[0][0] is None


def test_threshold_floor_and_configurability() -> None:
    for bad in (2, 0, -1):
        with pytest.raises(ValueError):
            suppress_small_cells([[1]], bad)
    out = suppress_small_cells([[7, 12], [15, 20]], 10, row_totals=True)
    assert out.cells[0][0] is None and out.label(None) == "<10"


def test_bridge_between_two_hidden_groups_is_closed() -> None:
    # Rule "two per line" alone leaves cell (1,2) recoverable here.
    cells = [
        [1, 1, 50, 50],
        [1, 1, 2, 50],
        [50, 50, 1, 1],
        [50, 50, 1, 1],
    ]
    out = suppress_small_cells(cells, 5, row_totals=True, col_totals=True)
    assert recoverable_cells(cells, out, True, True) == []


def test_totals_below_threshold_are_hidden() -> None:
    out = suppress_small_cells([[1, 1], [1, 0]], 5, row_totals=True, col_totals=True)
    assert out.grand_total is None
    assert out.row_totals == [None, None] and out.col_totals == [None, None]


def test_force_hides_a_cell_and_keeps_it_safe() -> None:
    cells = [[10, 20], [30, 40]]
    out = suppress_small_cells(cells, 5, col_totals=True, force=frozenset({(2, 0)}))
    assert out.col_totals is not None and out.col_totals[0] is None
    assert recoverable_cells(cells, out, False, True) == []


tables = st.integers(1, 5).flatmap(
    lambda n: st.integers(1, 5).flatmap(
        lambda m: st.lists(
            st.lists(st.integers(0, 12), min_size=m, max_size=m), min_size=n, max_size=n
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(tables, st.booleans(), st.booleans(), st.integers(3, 8))
def test_no_hidden_cell_is_recoverable(
    cells: list[list[int]], row_totals: bool, col_totals: bool, threshold: int
) -> None:
    out = suppress_small_cells(cells, threshold, row_totals=row_totals, col_totals=col_totals)
    # Every small count is hidden, every shown count is the true one.
    for i, row in enumerate(cells):
        for j, v in enumerate(row):
            if v < threshold:
                assert out.cells[i][j] is None
            elif out.cells[i][j] is not None:
                assert out.cells[i][j] == v
    for total in [*(out.row_totals or []), *(out.col_totals or []), out.grand_total]:
        assert total is None or total >= threshold
    assert recoverable_cells(cells, out, row_totals, col_totals) == []
