"""Text shaping at run time: load the FriBiDi the program carries, say whether Raqm works.

Pillow's wheels carry Raqm and HarfBuzz but open FriBiDi by name at run time
(``libfribidi.so.0``; ``fribidi.dll`` or ``libfribidi-0.dll`` on Windows), and only when
its ``_imagingft`` module is first imported. A café PC may not have it, so the one-file
program carries its own copy in ``<bundle>/fribidi/`` (installer/kiosk-agent.spec) and
``preload`` opens it by full path first: the dynamic loader then hands Pillow that copy
when it asks by name. Without shaping the notice is still shown, in a language that needs
none (``drawable_languages``), and the degradation is logged once and counted.
"""

from __future__ import annotations

import logging
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

BUNDLE_DIR = "fribidi"
"""Folder inside the frozen program that holds the FriBiDi library and its licence."""
LIBRARY_NAMES = {"linux": "libfribidi.so.0", "win32": "fribidi.dll"}
# Scripts drawn correctly glyph by glyph, left to right, when their texts hold no
# combining marks: no joining (Arabic), no reordering or stacking (Indic, Khmer, Thai).
PLAIN_SCRIPTS = frozenset({"Latn", "Ethi"})

_preloaded: list[object] = []  # keeps the loaded library referenced for the process
_logged = threading.Event()


def _platform() -> str:
    return "win32" if sys.platform == "win32" else "linux"


def bundled_library(base: Path | None = None, platform: str | None = None) -> Path | None:
    """The FriBiDi library inside the frozen program (None from sources or if absent)."""
    if base is None:
        meipass = getattr(sys, "_MEIPASS", None)
        if meipass is None:
            return None
        base = Path(meipass)
    path = base / BUNDLE_DIR / LIBRARY_NAMES[platform or _platform()]
    return path if path.is_file() else None


def preload(
    library: Path | None = None, loader: Callable[[str], object] | None = None
) -> str | None:
    """Open the bundled FriBiDi by full path (before Pillow's ImageFont is imported).

    Returns None when it was loaded (or there is nothing bundled), else why not. A
    second call does nothing.
    """
    if _preloaded:
        return None
    path = library if library is not None else bundled_library()
    if path is None:
        return None
    if loader is None:
        import ctypes

        loader = ctypes.CDLL
    try:
        _preloaded.append(loader(str(path)))
    except OSError as e:
        return f"the bundled FriBiDi ({path.name}) could not be loaded: {e}"
    return None


@dataclass(frozen=True)
class Shaping:
    """Whether Raqm shaping works in this process, and if not, why (for the log)."""

    available: bool
    reason: str = ""


@cache
def status() -> Shaping:
    """Shaping as this process has it (checked once: Pillow decides at import)."""
    problem = preload()
    try:
        from PIL import features

        if features.check_feature("raqm"):
            return Shaping(True)
        missing = [lib for lib in ("fribidi", "harfbuzz") if not features.check_feature(lib)]
    except Exception as e:  # a broken Pillow must not take the notice down
        return Shaping(False, f"Pillow's text layout could not be checked: {e}")
    why = f"Raqm is unavailable (missing: {', '.join(missing) or 'raqm'})"
    return Shaping(False, f"{why}; {problem}" if problem else why)


def available() -> bool:
    return status().available


def needs_shaping(script: str, texts: Iterable[str]) -> bool:
    """True when ``texts`` in ``script`` cannot be drawn correctly without Raqm."""
    if script not in PLAIN_SCRIPTS:
        return True
    return any(unicodedata.category(ch)[0] == "M" for text in texts for ch in text)


def drawable_languages(
    languages: Iterable[str],
    needs: Mapping[str, bool],
    *,
    shaping: bool,
    fallback: str = "en",
) -> list[str]:
    """The café's ``languages`` that can be drawn: all with shaping; without it those that
    need none (``needs[code]`` false), or ``fallback`` when none is left."""
    codes = list(dict.fromkeys(languages))
    if shaping:
        return codes
    plain = [c for c in codes if not needs.get(c, True)]
    return plain or [fallback]


def log_degraded_once(reason: str, shown: Iterable[str], dropped: Iterable[str]) -> None:
    """Say once per process why the notice is shown in fewer languages than configured."""
    if _logged.is_set():
        return
    _logged.set()
    log.warning(
        "text shaping is unavailable (%s): the notice is shown in %s instead of %s; "
        "run `kiosk-agent doctor` on this PC",
        reason,
        ", ".join(shown),
        ", ".join(dropped) or "-",
    )


def notice_languages(languages: Iterable[str]) -> tuple[list[str], Shaping]:
    """The languages the notice can show here, and the shaping status; logs (once) when
    shaping is missing and a configured language had to be left out."""
    from kiosk_agent.content.locales import REFERENCE, load_locale

    codes = list(dict.fromkeys(languages))
    state = status()
    if state.available:
        return codes, state
    needs = {}
    for code in codes:
        loc = load_locale(code)
        needs[code] = needs_shaping(loc.script, loc.strings.values())
    shown = drawable_languages(codes, needs, shaping=False, fallback=REFERENCE)
    log_degraded_once(state.reason, shown, [c for c in codes if c not in shown])
    return shown, state
