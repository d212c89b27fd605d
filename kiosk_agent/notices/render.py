"""Text drawn by Pillow with Raqm (HarfBuzz shaping + FriBiDi), for every shipped script.

Tk 8.6 on X11 cannot shape Arabic, Khmer, Devanagari or Bengali, so the notice draws its
text here into images that Tk only displays. A paragraph is split into *runs*, each drawn
with one font: the locale's script font (bundled Noto) and, for what it lacks (digits and
Latin in Ge'ez or Thai text, phone numbers, web addresses), the Latin Noto Sans. Lines
are wrapped at spaces, at zero-width spaces, and between the words of Thai, Lao, Khmer and
Burmese, which write no spaces between words (found by dictionary: ``wordbreak.py``). In a
right-to-left paragraph the runs of a line are placed from the right edge, each shaped in
its own direction.

Everything here is pure drawing: no Tk, no files except the bundled fonts. Without Raqm
(``shaping.py``) it still draws, with Pillow's basic layout and no direction: correct for
the scripts that need no shaping, which are the only ones the notice then shows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from kiosk_agent.notices import shaping, wordbreak
from kiosk_agent.notices.fontcov import Coverage, font_coverage

shaping.preload()  # before ImageFont's first import: Pillow opens FriBiDi only then

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
SCRIPT_FONTS = {
    "Latn": "NotoSans-Regular.ttf",
    "Arab": "NotoSansArabic-Regular.ttf",
    "Ethi": "NotoSansEthiopic-Regular.ttf",
    "Deva": "NotoSansDevanagari-Regular.ttf",
    "Beng": "NotoSansBengali-Regular.ttf",
    "Thai": "NotoSansThai-Regular.ttf",
    "Khmr": "NotoSansKhmer-Regular.ttf",
    "Mymr": "NotoSansMyanmar-Regular.ttf",
    "Laoo": "NotoSansLao-Regular.ttf",
    "Sinh": "NotoSansSinhala-Regular.ttf",
}
LATIN_BOLD = "NotoSans-Bold.ttf"
RTL_SCRIPTS = frozenset({"Arab"})
ZWSP = "\u200b"
# Characters after which a line must not break inside a word (virama / coeng / ZWJ).
_JOINERS = frozenset("\u094d\u09cd\u17d2\u200d")

Color = tuple[int, int, int]


@cache
def font(script: str, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The bundled font for ``script`` at ``size`` px, with Raqm when this process has it
    (else basic layout: asking Pillow for Raqm without it only warns and falls back)."""
    name = LATIN_BOLD if bold and script == "Latn" else SCRIPT_FONTS[script]
    engine = ImageFont.Layout.RAQM if shaping.available() else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(FONTS_DIR / name), size, layout_engine=engine)


def direction(rtl: bool) -> str | None:
    """The ``direction`` argument for Pillow: None without Raqm, which refuses any."""
    if not shaping.available():
        return None
    return "rtl" if rtl else "ltr"


@cache
def coverage(script: str) -> Coverage:
    return font_coverage((FONTS_DIR / SCRIPT_FONTS[script]).read_bytes())


@dataclass(frozen=True)
class Run:
    """Consecutive characters drawn with one font in one direction."""

    text: str
    script: str

    @property
    def rtl(self) -> bool:
        return self.script in RTL_SCRIPTS


def _is_neutral(ch: str) -> bool:
    """Spaces, punctuation, symbols and format characters take the direction around them."""
    cat = unicodedata.category(ch)
    return cat[0] in "ZPS" or cat == "Cf"


def split_runs(text: str, script: str) -> list[Run]:
    """``text`` in paragraph script ``script`` split into font runs, in logical order.

    Strong characters go to the script font if it has them, else to the Latin font.
    Combining marks stay with their base. A neutral (space, punctuation) joins the runs on
    both sides when they agree and the paragraph's own script otherwise (as the Unicode
    bidi algorithm resolves neutrals), provided that font has a glyph for it.
    """
    if not text:
        return []
    own = coverage(script)
    latin = coverage("Latn")
    classes: list[str | None] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] == "M" and classes:
            classes.append(classes[-1])  # mark: same font as its base
        elif _is_neutral(ch):
            classes.append(None)
        elif ch in own or ch not in latin:
            classes.append(script)
        else:
            classes.append("Latn")
    # Resolve neutrals from the nearest strong classes on each side.
    resolved: list[str] = []
    n = len(text)
    for i, cls in enumerate(classes):
        if cls is not None:
            resolved.append(cls)
            continue
        before = next((classes[j] for j in range(i - 1, -1, -1) if classes[j]), None)
        after = next((classes[j] for j in range(i + 1, n) if classes[j]), None)
        choice = before if before == after and before is not None else script
        ch = text[i]
        if ch not in coverage(choice) and ch != ZWSP:
            choice = "Latn" if ch in latin else choice
        resolved.append(choice)
    runs: list[Run] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or resolved[i] != resolved[start]:
            runs.append(Run(text[start:i], resolved[start]))
            start = i
    return runs


@dataclass(frozen=True)
class TextStyle:
    size: int
    color: Color = (34, 34, 34)
    bold: bool = False


def run_font(run: Run, style: TextStyle) -> ImageFont.FreeTypeFont:
    return font(run.script, style.size, style.bold)


def line_width(runs: Sequence[Run], style: TextStyle) -> float:
    return sum(run_font(r, style).getlength(r.text, direction=direction(r.rtl)) for r in runs)


def line_metrics(script: str, style: TextStyle) -> tuple[int, int]:
    """(ascent, descent) for lines of ``script`` text with Latin fallback runs.

    Some script fonts (Noto Sans Arabic) declare metrics for their tallest stacked marks,
    far above ordinary text; 80 % of them still clears the marks the shipped texts use
    and keeps Arabic lines from spreading apart (measured on the screenshots).
    """
    a1, d1 = font(script, style.size, style.bold).getmetrics()
    a2, d2 = font("Latn", style.size, style.bold).getmetrics()
    up, down = _METRIC_SCALE.get(script, (0.8, 0.8))
    return max(round(a1 * up), a2), max(round(d1 * down), d2)


# Noto Sans Myanmar declares a descent of 0.86 em; the shipped Burmese texts reach 0.48 em
# below the baseline (measured on every string at 100 px): 0.6 of it still clears them.
_METRIC_SCALE = {"Mymr": (0.8, 0.6)}


def _break_points(text: str) -> list[int]:
    """Indexes where a line may end: after a space or a zero-width space, and between
    two dictionary words of Thai, Lao, Khmer or Burmese."""
    spaces = [i + 1 for i, ch in enumerate(text) if ch in (" ", ZWSP)]
    return sorted({*spaces, *wordbreak.breaks(text)})


def _cluster_points(text: str) -> list[int]:
    """Fallback break positions inside an over-long word: between grapheme-ish clusters."""
    points = []
    for i in range(1, len(text)):
        if unicodedata.category(text[i])[0] == "M" or text[i - 1] in _JOINERS:
            continue
        if text[i] in _JOINERS or text[i] == "\u200d":
            continue
        points.append(i)
    return points


@dataclass(frozen=True)
class WrappedLine:
    text: str
    runs: tuple[Run, ...]
    width: float
    overflow: bool  # a single word wider than the line: broken inside the word


def wrap(text: str, script: str, style: TextStyle, max_width: float) -> list[WrappedLine]:
    """Greedy line breaking at spaces / zero-width spaces, measured with the real fonts.

    Cached: measuring is most of the cost of drawing a notice, and the same few texts are
    wrapped at every session (the cache holds line texts and widths, not pixels).
    """
    return list(_wrap(text, script, style, max_width))


def wrap_cache_clear() -> None:
    _wrap.cache_clear()
    wordbreak.forget()


@lru_cache(maxsize=512)
def _wrap(text: str, script: str, style: TextStyle, max_width: float) -> tuple[WrappedLine, ...]:
    lines: list[WrappedLine] = []
    full = text.strip()
    every = _break_points(full)  # once for the paragraph: the dictionary needs whole runs
    rest, base = full, 0
    while rest:
        points = [p - base for p in every if base < p < base + len(rest)] + [len(rest)]
        best: int | None = None
        for p in points:
            candidate = rest[:p].rstrip(" " + ZWSP)
            if line_width(split_runs(candidate, script), style) <= max_width:
                best = p
            else:
                break
        overflow = False
        if best is None:  # even the first word is too wide: break inside it
            overflow = True
            best = 1
            for p in _cluster_points(rest[: points[0]]):
                if line_width(split_runs(rest[:p], script), style) <= max_width:
                    best = p
                else:
                    break
        piece = rest[:best].rstrip(" " + ZWSP)
        runs = tuple(split_runs(piece, script))
        lines.append(WrappedLine(piece, runs, line_width(runs, style), overflow))
        after = rest[best:]
        rest = after.lstrip(" " + ZWSP)
        base += best + len(after) - len(rest)
    return tuple(lines)


def draw_line(
    draw: ImageDraw.ImageDraw,
    line: WrappedLine,
    style: TextStyle,
    *,
    left: float,
    right: float,
    baseline: float,
    rtl: bool,
    center: bool = False,
) -> None:
    """Draw one wrapped line between ``left`` and ``right`` on ``baseline``.

    Left-to-right lines start at ``left``; right-to-left lines at ``right`` with their runs
    placed leftwards in logical order (the reading order of an RTL paragraph).
    """
    if center:
        pad = (right - left - line.width) / 2
        left, right = left + pad, right - pad
    x = right if rtl else left
    for run in line.runs:
        f = run_font(run, style)
        way = direction(run.rtl)
        w = f.getlength(run.text, direction=way)
        if rtl:
            x -= w
            draw.text((x, baseline), run.text, font=f, fill=style.color, anchor="ls", direction=way)
        else:
            draw.text((x, baseline), run.text, font=f, fill=style.color, anchor="ls", direction=way)
            x += w


def render_text(
    text: str,
    script: str,
    style: TextStyle,
    *,
    max_width: int,
    rtl: bool,
    background: Color,
    padding: tuple[int, int] = (0, 0),
    center: bool = False,
    min_width: int = 0,
) -> Image.Image:
    """``text`` wrapped to ``max_width`` as an image (used for buttons and toasts)."""
    lines = wrap(text, script, style, max_width)
    ascent, descent = line_metrics(script, style)
    line_h = int((ascent + descent) * 1.15)
    width = max([min_width, *(int(ln.width + 0.999) for ln in lines)]) + 2 * padding[0]
    height = line_h * max(1, len(lines)) + 2 * padding[1]
    img = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw_line(
            draw,
            line,
            style,
            left=padding[0],
            right=width - padding[0],
            baseline=padding[1] + i * line_h + ascent,
            rtl=rtl,
            center=center,
        )
    return img
