"""The content's own validation (no fonts, no renderer): what `notices check` builds on."""

from __future__ import annotations

import shutil
from pathlib import Path

from kiosk_agent.content.check import REQUIRED_LOCALES, check_content
from kiosk_agent.content.locales import LOCALES_DIR, Locale


def test_shipped_content_has_no_problem_and_every_required_locale() -> None:
    rows = check_content()
    assert {r.code for r in rows} >= set(REQUIRED_LOCALES)
    assert all(r.problems == () for r in rows), [r for r in rows if r.problems]


def test_measure_runs_only_for_complete_locales(tmp_path: Path) -> None:
    for name in ("en.yaml", "sw.yaml", "fr.yaml"):
        shutil.copy(LOCALES_DIR / name, tmp_path / name)
    sw = (tmp_path / "sw.yaml").read_text()
    (tmp_path / "sw.yaml").write_text(sw.replace("Piga {helpline}.", "Piga {namba}.", 1))
    measured: list[str] = []

    def measure(loc: Locale) -> list[str]:
        measured.append(loc.code)
        return ["too tall"] if loc.code == "fr" else []

    rows = {r.code: r for r in check_content(directory=tmp_path, measure=measure)}
    assert sorted(measured) == ["en", "fr"]  # sw has a broken placeholder: not measured
    assert rows["fr"].problems == ("too tall",) and rows["en"].problems == ()
    assert any("placeholders {namba}" in p for p in rows["sw"].problems)
    assert rows["km"].problems == ("required locale file is missing",)
