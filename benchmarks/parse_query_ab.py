"""``wire.parse_query`` per call, A/B: the same two queries parsed by each source tree.

Usage: ``python -m benchmarks.parse_query_ab TREE [TREE ...]``; the best of 25 rounds of
20,000 calls, the trees taking turns, for a query without and with an OPT record.
"""

from __future__ import annotations

import importlib
import sys
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

import dns.message

ROUNDS = 25
CALLS = 20_000


def load(tree: str) -> Callable[[bytes], Any]:
    """``parse_query`` imported from ``tree`` (each tree's modules loaded afresh)."""
    for name in [k for k in sys.modules if k.startswith("kiosk_agent")]:
        del sys.modules[name]
    sys.path.insert(0, tree)
    try:
        wire = importlib.import_module("kiosk_agent.net.wire")
    finally:
        sys.path.pop(0)
    parse: Callable[[bytes], Any] = wire.parse_query
    return parse


def main(trees: list[str]) -> None:
    parsers = {t: load(t) for t in trees}
    for edns in (False, 0):
        query = dns.message.make_query("www.blocked.example", "A", use_edns=edns).to_wire()
        best = dict.fromkeys(trees, float("inf"))
        for _ in range(ROUNDS):
            for tree, parse in parsers.items():
                seconds = timeit.timeit(partial(parse, query), number=CALLS)
                best[tree] = min(best[tree], seconds / CALLS * 1e9)
        figures = "  ".join(f"{t}: {best[t]:.0f} ns" for t in trees)
        print(f"{'with OPT' if edns is not False else 'no OPT  '}  {figures}")


if __name__ == "__main__":
    main(sys.argv[1:])
