"""The UI draws the content pack applied in the state folder, and a newer one at the next
notice, without a restart (docs/content.md)."""

from __future__ import annotations

import tkinter as tk
from pathlib import Path

import pytest

from kiosk_agent.config import CafeConfig, Config, NoticesConfig
from kiosk_agent.content import active, pack
from kiosk_agent.ui import UiApp
from tests.notices.xvfb import shared_xvfb
from tests.test_ui import NoSignals


def files_with(title: str, helpline: str) -> pack.PackFiles:
    files = pack.collect(active.BUILTIN_DIR)
    locales = dict(files.locales)
    locales["sw"] = locales["sw"].replace("Habari! Furahia na uwe salama mtandaoni", title)
    countries = files.countries.replace('number: "116"', f'number: "{helpline}"', 1)
    return pack.PackFiles(locales, countries)


def test_new_pack_reaches_the_next_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    config = Config(
        state_dir=state,
        cafe=CafeConfig(country="KE", languages=("sw", "en")),
        notices=NoticesConfig(triggers=("billing_hook",), min_display=0, min_gap=0),
    )
    monkeypatch.setenv("DISPLAY", shared_xvfb(1024, 768))
    root = tk.Tk()
    app = UiApp(config, None, NoSignals(), root=root, with_tray=False)
    try:
        app.show_notice()
        assert app.locale.text("notice.title").startswith("Habari")
        pack.install_files(state, 2, files_with("Karibu (pakiti 2)", "1190"))
        app.notice.close()
        app.show_notice()
        assert app.locale.text("notice.title") == "Karibu (pakiti 2)"
        assert app.country is not None and app.country.helplines[0].number == "1190"
        assert app.notice.country is app.country
    finally:
        active.use_state_dir(None)
        root.destroy()
