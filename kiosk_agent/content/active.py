"""Which content the notice, block page and toasts draw: the applied pack, or the built-in one.

A process that shows content calls ``use_state_dir(config.state_dir)`` once; from then
on ``locales_dir()`` and ``countries_file()`` name the applied pack's files
(``state_dir/content/current.json``, written by ``content/pack.py``), re-checked on
every call (one ``stat``), so a new pack is drawn at the next notice or block page
without restarting the service or the UI. Without a state folder, or while no pack was
applied, the built-in content is used. Each pack lives in its own folder (``v<N>``),
so the caches keyed by folder (``load_locale``) never serve an old pack's text.
"""

from __future__ import annotations

import json
from pathlib import Path

# Imports nothing of the agent: locales.py and countries.py ask it for their folder.
BUILTIN_DIR = Path(__file__).resolve().parent
BUILTIN_LOCALES = BUILTIN_DIR / "locales"
BUILTIN_COUNTRIES = BUILTIN_DIR / "countries.yaml"
CURRENT = "current.json"

_state_dir: Path | None = None
_seen: tuple[int, int] | None = None  # (mtime_ns, size) of current.json when last read
_folder: Path | None = None


def use_state_dir(state_dir: Path | None) -> None:
    """Draw content from the pack applied in ``state_dir`` (None: built-in only)."""
    global _state_dir, _seen, _folder
    _state_dir, _seen, _folder = state_dir, None, None


def _applied_folder() -> Path | None:
    global _seen, _folder
    if _state_dir is None:
        return None
    try:
        st = (packs_dir(_state_dir) / CURRENT).stat()
    except OSError:
        _seen, _folder = None, None
        return None
    mark = (st.st_mtime_ns, st.st_size)
    if mark != _seen:
        pointer = read_pointer(_state_dir)
        _seen, _folder = mark, (pointer[1] if pointer else None)
    return _folder


def packs_dir(state_dir: Path) -> Path:
    return state_dir / "content"


def read_pointer(state_dir: Path) -> tuple[int, Path] | None:
    """(version, folder) of the applied pack, or None when the built-in pack is in use."""
    try:
        obj = json.loads((packs_dir(state_dir) / CURRENT).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict):
        return None
    version, name = obj.get("version"), obj.get("dir")
    if not isinstance(version, int) or isinstance(version, bool) or name != f"v{version}":
        return None
    folder = packs_dir(state_dir) / name
    return (version, folder) if (folder / "locales").is_dir() else None


def locales_dir() -> Path:
    folder = _applied_folder()
    return folder / "locales" if folder is not None else BUILTIN_LOCALES


def countries_file() -> Path:
    folder = _applied_folder()
    return folder / "countries.yaml" if folder is not None else BUILTIN_COUNTRIES


def applied_version() -> int | None:
    """The version of the pack drawn now (None: built-in)."""
    if _state_dir is None or _applied_folder() is None:
        return None
    pointer = read_pointer(_state_dir)
    return pointer[0] if pointer else None
