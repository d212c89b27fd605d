"""shaping.py: which languages the notice shows without Raqm, and the bundled FriBiDi."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk_agent.content.locales import load_locale, shipped_codes
from kiosk_agent.notices import render, shaping


def test_plain_scripts_without_marks_need_no_shaping() -> None:
    assert not shaping.needs_shaping("Latn", ["Habari", "Tiếng Việt"])  # precomposed
    assert not shaping.needs_shaping("Ethi", ["ሰላም"])
    assert shaping.needs_shaping("Latn", ["Tie\u0302\u0301ng"])  # combining marks
    assert shaping.needs_shaping("Arab", ["سلام"])
    assert shaping.needs_shaping("Khmr", [""])


def test_shipped_locales_that_need_shaping() -> None:
    needing = {
        code
        for code in shipped_codes()
        if shaping.needs_shaping(load_locale(code).script, load_locale(code).strings.values())
    }
    # Yoruba's tone marks on dotted vowels are combining marks (ẹ́): Raqm places them.
    assert needing == {"ar", "bn", "hi", "km", "ne", "th", "ur", "my", "lo", "si", "yo"}


def test_drawable_languages() -> None:
    needs = {"ar": True, "km": True, "sw": False, "en": False}
    assert shaping.drawable_languages(["ar", "sw", "km"], needs, shaping=True) == ["ar", "sw", "km"]
    assert shaping.drawable_languages(["ar", "sw", "km", "en"], needs, shaping=False) == [
        "sw",
        "en",
    ]
    assert shaping.drawable_languages(["ar", "km"], needs, shaping=False) == ["en"]
    assert shaping.drawable_languages(["xx"], {}, shaping=False, fallback="fr") == ["fr"]


@pytest.fixture
def no_shaping(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as if Raqm were missing (the real thing: test_no_shaping.py)."""
    shaping.status.cache_clear()
    render.font.cache_clear()
    render.wrap_cache_clear()
    monkeypatch.setattr(shaping, "status", lambda: shaping.Shaping(False, "test: no Raqm"))
    monkeypatch.setattr(shaping, "_logged", type(shaping._logged)())
    yield
    render.font.cache_clear()
    render.wrap_cache_clear()


def test_notice_languages_degrade_and_log_once(
    no_shaping: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert shaping.notice_languages(["ar", "hi", "am", "fr"])[0] == ["am", "fr"]
        assert shaping.notice_languages(["ar"])[0] == ["en"]
    assert len(caplog.records) == 1
    assert "test: no Raqm" in caplog.text and "ar, hi" in caplog.text


def test_render_without_raqm_draws(no_shaping: None) -> None:
    style = render.TextStyle(22)
    image = render.render_text(
        "Karibu — 116", "Latn", style, max_width=400, rtl=False, background=(255, 255, 255)
    )
    assert image.width > 50
    assert render.direction(True) is None
    # A script that needs shaping still does not crash (it is never shown this way).
    render.render_text("سلام", "Arab", style, max_width=400, rtl=True, background=(0, 0, 0))


def test_preload_opens_the_bundled_library(tmp_path: Path) -> None:
    assert shaping.bundled_library(tmp_path, "linux") is None
    lib = tmp_path / shaping.BUNDLE_DIR / "libfribidi.so.0"
    lib.parent.mkdir()
    lib.write_bytes(b"")
    assert shaping.bundled_library(tmp_path, "linux") == lib
    assert shaping.bundled_library(tmp_path, "win32") is None
    opened: list[str] = []
    saved = list(shaping._preloaded)
    shaping._preloaded.clear()
    try:
        assert shaping.preload(lib, loader=opened.append) is None
        assert opened == [str(lib)]
        assert shaping.preload(lib, loader=opened.append) is None  # once only
        assert opened == [str(lib)]
        shaping._preloaded.clear()

        def broken(path: str) -> object:
            raise OSError(f"{path}: file too short")

        assert "file too short" in (shaping.preload(lib, loader=broken) or "")
    finally:
        shaping._preloaded[:] = saved
