"""Render the tips' pictures from the Noto Color Emoji font into small PNGs (dev time).

The program ships the PNGs (``kiosk_agent/content/icons/``), not the 10 MB font: run this
only to add or change a picture. Needs Debian ``fonts-noto-color-emoji``.

    python scripts/render_tip_icons.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
OUT = Path(__file__).resolve().parent.parent / "kiosk_agent" / "content" / "icons"
SIZE = 96  # px; the notice scales down, never up beyond this
# icon name (used in the locale files) -> emoji code point
ICONS = {
    "lock": "\U0001f512",
    "key": "\U0001f511",
    "masks": "\U0001f3ad",
    "people": "\U0001f465",
    "camera": "\U0001f4f7",
    "phone": "\U0001f4f1",
    "hand": "\u270b",
    "door": "\U0001f6aa",
    "heart": "\U0001f49b",
    "speech": "\U0001f4ac",
    "hug": "\U0001f917",
    "flag": "\U0001f6a9",
}


def render(char: str) -> bytes:
    # CBDT bitmaps exist only at 109 px: draw there, crop, scale down.
    font = ImageFont.truetype(str(FONT), 109)
    img = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((10, 10), char, font=font, embedded_color=True)
    box = img.getbbox()
    if box is None:
        raise SystemExit(f"no glyph for U+{ord(char):04X}")
    img = img.crop(box)
    img.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
    # A palette PNG with alpha keeps each file a few kB.
    small = img.quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    buf = io.BytesIO()
    small.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def main() -> int:
    if not FONT.is_file():
        print(f"missing {FONT} (apt-get install fonts-noto-color-emoji)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for name, char in ICONS.items():
        (OUT / f"{name}.png").write_bytes(render(char))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
