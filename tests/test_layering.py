"""The layering contracts (pyproject.toml ``[tool.importlinter]``) hold, and each one fails
when a copy of the tree is given an import that breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from tests.layering import import_circles

REPO = Path(__file__).resolve().parent.parent
CONTRACTS: list[dict[str, object]] = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))[
    "tool"
]["importlinter"]["contracts"]
FLOOR = {"__init__", "errors", "atomic", "contracts"}
"""What the regional server and contracts/ may import of the agent (docs/contracts.md)."""


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the tree at ``root``, with the contracts in its pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def contract_name(contract_type: str, *, containing: str) -> str:
    names = [
        str(c["name"])
        for c in CONTRACTS
        if c["type"] == contract_type and containing in str(c["name"])
    ]
    assert len(names) == 1, names
    return names[0]


def test_the_tree_keeps_every_contract() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout


def _copy_tree(dest: Path) -> None:
    """The two packages' Python files, pyproject.toml and the contract type, at ``dest``."""
    keep_py = shutil.ignore_patterns("__pycache__", "*.ttf", "*.png", "*.ico", "*.html", "*.css")
    for package in ("kiosk_agent", "regional_server"):
        shutil.copytree(REPO / package, dest / package, ignore=keep_py)
    (dest / "tests").mkdir()
    (dest / "tests/__init__.py").write_text("")
    shutil.copy(REPO / "tests/layering.py", dest / "tests/layering.py")
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")


# (files to add, a phrase of the contract's name that must then be broken)
BAD_IMPORTS: dict[str, tuple[dict[str, str], str, str]] = {
    "platform imports the config": (
        {"kiosk_agent/platform/bad.py": "from kiosk_agent.config import Config\n"},
        "forbidden",
        "platform/ imports nothing above it",
    ),
    "filter imports the wiring": (
        {"kiosk_agent/filter/bad.py": "def f() -> None:\n    import kiosk_agent.service.wiring\n"},
        "forbidden",
        "never import the service's wiring",
    ),
    "reporting imports the filter (indirectly, through net)": (
        {
            "kiosk_agent/net/bad.py": "import kiosk_agent.filter.index\n",
            "kiosk_agent/reporting/bad.py": "import kiosk_agent.net.bad\n",
        },
        "forbidden",
        "reporting/ imports neither",
    ),
    "filter imports the notices": (
        {"kiosk_agent/filter/bad.py": "from kiosk_agent.notices import layout\n"},
        "forbidden",
        "filter/ never imports notices/",
    ),
    "content imports the notices": (
        {"kiosk_agent/content/bad.py": "import kiosk_agent.notices.render\n"},
        "forbidden",
        "content/ imports none",
    ),
    "the regional server imports the filter": (
        {"regional_server/bad.py": "from kiosk_agent.filter import index\n"},
        "forbidden",
        "regional_server imports only",
    ),
    "a circle of two modules": (
        {
            "kiosk_agent/bad_a.py": "import kiosk_agent.bad_b\n",
            "kiosk_agent/bad_b.py": "def f() -> None:\n    import kiosk_agent.bad_a\n",
        },
        "acyclic_modules",
        "no import circle",
    ),
    "a circle between two sub-packages": (
        {
            "kiosk_agent/filter/resolver/bad.py": "import kiosk_agent.filter.proxy.bad\n",
            "kiosk_agent/filter/proxy/bad.py": "import kiosk_agent.filter.resolver.chain\n",
        },
        "acyclic_siblings",
        "inside each part",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_IMPORTS))
def test_a_bad_import_breaks_its_contract(tmp_path: Path, case: str) -> None:
    files, contract_type, phrase = BAD_IMPORTS[case]
    name = contract_name(contract_type, containing=phrase)
    _copy_tree(tmp_path)
    clean = lint_imports(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for path, text in files.items():
        (tmp_path / path).write_text(text)
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{name} BROKEN" in done.stdout
    assert "kiosk_agent" in done.stdout.split("Broken contracts")[1]


def test_the_server_contract_names_every_other_part_of_the_agent() -> None:
    """A new top-level part of kiosk_agent must be forbidden to the server explicitly."""
    parts = {
        p.stem
        for p in (REPO / "kiosk_agent").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.name != "__pycache__"
    }
    for phrase in ("regional_server imports only", "contracts/ imports only"):
        contract = next(c for c in CONTRACTS if phrase in str(c["name"]))
        forbidden = {str(m).removeprefix("kiosk_agent.") for m in contract["forbidden_modules"]}  # type: ignore[attr-defined]
        assert forbidden == parts - FLOOR, phrase


def test_import_circles_finds_each_circle_once() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [
        ("p.a", "p.b"),
        ("p.b", "p.c"),
        ("p.c", "p.a"),  # a circle of three
        ("p.c", "p.d"),
        ("p.d", "p.e"),  # a chain out of it: no circle
        ("p.x", "p.y"),
        ("p.y", "p.x"),  # a second circle
    ]:
        graph.add_import(importer=importer, imported=imported)
    assert import_circles(graph, graph.modules) == [["p.a", "p.b", "p.c"], ["p.x", "p.y"]]
    assert import_circles(graph, ["p.a", "p.b", "p.d"]) == []
