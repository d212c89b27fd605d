"""The pictures' PNG reader: same pixels as Pillow, and nothing but PngError on junk."""

from __future__ import annotations

import contextlib
import io
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageChops

from kiosk_agent.content.locales import ICONS_DIR
from kiosk_agent.notices.png import PngError, read_png


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def test_every_shipped_picture_reads_like_pillow() -> None:
    icons = sorted(ICONS_DIR.glob("*.png"))
    assert len(icons) >= 12
    for path in icons:
        with Image.open(path) as img:
            assert _same(read_png(path.read_bytes()), img.convert("RGBA")), path.name


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_all_filters_on_noisy_images(mode: str) -> None:
    rng = random.Random(5)
    img = Image.new("RGBA", (40, 30))
    img.putdata([tuple(rng.randrange(256) for _ in range(4)) for _ in range(40 * 30)])
    # Gradients make the encoder pick Sub, Up, Average and Paeth filters too.
    for x in range(40):
        for y in range(0, 30, 2):
            img.putpixel((x, y), (x * 6, y * 8, 100, 255))
    src = img if mode == "RGBA" else img.quantize(64)
    buf = io.BytesIO()
    src.save(buf, "PNG", optimize=True)
    assert _same(read_png(buf.getvalue()), src.convert("RGBA"))


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "1"])
def test_other_kinds_are_refused_not_misread(mode: str) -> None:
    buf = io.BytesIO()
    Image.new(mode, (8, 8)).save(buf, "PNG")
    with pytest.raises(PngError):
        read_png(buf.getvalue())


@given(st.binary(max_size=300))
def test_junk_raises_only_png_error(data: bytes) -> None:
    with contextlib.suppress(PngError):
        read_png(b"\x89PNG\r\n\x1a\n" + data)


@given(st.integers(min_value=0, max_value=3000), st.integers(min_value=0, max_value=255))
def test_damaged_pictures_raise_only_png_error(cut: int, flip: int) -> None:
    data = bytearray((ICONS_DIR / "lock.png").read_bytes())
    if cut < len(data):
        data[cut] ^= flip
    with contextlib.suppress(PngError):
        read_png(bytes(data[: max(cut, 8)] if flip == 0 else data))
