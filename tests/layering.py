"""An import-linter contract type: no import circle between modules (``acyclic_modules``).

import-linter's own ``acyclic_siblings`` forbids circles between sibling packages taken
whole; ``kiosk_agent.service`` holds both what components use (``context``, ``worker``)
and the wiring that uses the components, so at that level it is not the rule we want.
This contract checks the rule itself: no module reaches itself through its imports
(lazy imports inside functions included). Registered in pyproject.toml
(``contract_types``), run by ``lint-imports`` and tests/test_layering.py.
"""

from __future__ import annotations

from collections.abc import Iterable

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def import_circles(graph: ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """The strongly connected groups of more than one module among ``modules`` (sorted).

    Tarjan's algorithm, iterative: the graph has a few hundred modules but a recursion
    per module would still be one frame per step of the deepest chain.
    """
    nodes = sorted(set(modules))
    inside = set(nodes)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    work: list[tuple[str, list[str]]] = []  # the depth-first path: (module, imports left)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        work.append((node, sorted(graph.find_modules_directly_imported_by(node) & inside)))

    for root in nodes:
        if root in index:
            continue
        visit(root)
        while work:
            node, targets = work[-1]
            if targets:
                target = targets.pop()
                if target not in index:
                    visit(target)
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    circles.append(sorted(group))
    return sorted(circles)


class AcyclicModulesContract(Contract):
    """No module under ``packages`` imports itself through other modules under them."""

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        packages: list[str] = list(self.packages)  # type: ignore[call-overload]
        modules = [
            m for m in graph.modules if any(m == p or m.startswith(p + ".") for p in packages)
        ]
        circles = import_circles(graph, modules)
        return ContractCheck(kept=not circles, metadata={"circles": circles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for circle in check.metadata["circles"]:
            output.print_error(f"Import circle of {len(circle)} modules:")
            for module in circle:
                output.print_error(f"- {module}", bold=False)
            output.new_line()
