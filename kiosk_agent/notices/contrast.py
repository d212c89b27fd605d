"""WCAG 2.1 contrast, measured on rendered pixels (pure).

``contrast_ratio`` is the WCAG formula; ``measured_contrast`` finds, in a crop of a
rendered image, its background (the most common colour) and the colour that stands out
most from it (the ink of the text), and returns their ratio. The layout tests use it on
every text block and button of the notice: a colour constant that is readable on paper
but not once drawn (a grey plate, a pale label) fails there.
"""

from __future__ import annotations

from PIL import Image

Color = tuple[int, int, int]
AA_NORMAL = 4.5


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: Color) -> float:
    r, g, b = color
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: Color, b: Color) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def measured_contrast(img: Image.Image, min_pixels: int = 4) -> tuple[Color, Color, float]:
    """(background, ink, ratio) of ``img``: background the most common colour, ink the
    colour (of at least ``min_pixels`` pixels, so one stray pixel does not count) with
    the highest contrast to it."""
    rgb = img.convert("RGB")
    colors = rgb.getcolors(maxcolors=rgb.width * rgb.height + 1)
    if not colors:
        raise ValueError("empty image")
    counted: list[tuple[int, Color]] = [(n, (c[0], c[1], c[2])) for n, c in colors]  # type: ignore[index]
    background = max(counted)[1]
    inks = [c for n, c in counted if n >= min_pixels and c != background]
    if not inks:
        return background, background, 1.0
    ink = max(inks, key=lambda c: contrast_ratio(c, background))
    return background, ink, contrast_ratio(ink, background)
