"""Paths and tools the browser-guard tests share."""

from __future__ import annotations

from tests.conftest import REPO_ROOT, require_tool

GUARD_DIR = REPO_ROOT / "browser_guard"


def node() -> str:
    """The Node.js executable (skips locally / fails under CI=true when missing)."""
    return require_tool("node")
