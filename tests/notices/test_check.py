"""`kiosk-agent notices check`: the table, and exit 1 when a locale has a problem."""

from __future__ import annotations

import shutil
from pathlib import Path

from kiosk_agent.content.locales import LOCALES_DIR
from kiosk_agent.notices.check import check_locales, format_table
from tests.conftest import run_cli


def test_shipped_locales_pass_and_the_table_lists_them() -> None:
    done = run_cli(["notices", "check"])
    assert done.returncode == 0, done.stdout + done.stderr
    header = done.stdout.splitlines()[0].split()
    assert header == ["code", "language", "direction", "reviewed", "problems"]
    assert "العربية" in done.stdout and " rtl " in done.stdout
    assert "not yet reviewed by a native speaker: en, am, ar" in done.stdout


def test_problems_are_reported_per_locale(tmp_path: Path) -> None:
    for name in ("en.yaml", "sw.yaml", "fr.yaml", "ar.yaml"):
        shutil.copy(LOCALES_DIR / name, tmp_path / name)
    sw = (tmp_path / "sw.yaml").read_text()
    (tmp_path / "sw.yaml").write_text(sw.replace("Piga {helpline}.", "Piga {namba}.", 1))
    fr = (tmp_path / "fr.yaml").read_text()
    long_tip = "Un conseil beaucoup trop long pour un petit écran. " * 12
    (tmp_path / "fr.yaml").write_text(fr.replace("Tu peux toujours dire non", long_tip, 1))
    (tmp_path / "xx.yaml").write_text("reviewed: perhaps\n")
    rows = {r.code: r for r in check_locales(font_size=22, directory=tmp_path)}
    assert rows["en"].problems == () and rows["ar"].problems == ()
    assert any("placeholders {namba}" in p for p in rows["sw"].problems)
    assert any("px tall" in p for p in rows["fr"].problems)
    assert rows["xx"].problems and "missing" in rows["xx"].problems[0]
    assert any("required locale file is missing" in p for p in rows["km"].problems)
    table = format_table(list(rows.values()))
    assert "placeholders {namba}" in table


def test_font_size_that_is_too_big_fails(tmp_path: Path) -> None:
    done = run_cli(["notices", "check", "--font-size", "40"])
    assert done.returncode == 1
    assert "px tall at font size 40" in done.stdout


def test_characters_no_bundled_font_draws_are_reported() -> None:
    from dataclasses import replace

    from kiosk_agent.content.locales import load_locale
    from kiosk_agent.notices.check import font_problems

    for code in ("en", "ar", "km", "ur", "ne"):
        assert font_problems(load_locale(code)) == [], code
    en = load_locale("en")
    broken = replace(en, strings={**en.strings, "notice.title": "Hi \U0001f600 ሰ"})
    assert font_problems(broken) == ["fonts: no glyph for U+1230 U+1F600 (in Latn or Latin)"]
    # Zero-width spaces and joiners are break points, not drawn characters.
    assert font_problems(replace(en, strings={"x": "a\u200bb\u200dc"})) == []
