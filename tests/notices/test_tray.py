"""Tray state, menu construction (pystray's dummy backend) and toast rate limiting."""

from __future__ import annotations

import os

os.environ.setdefault("PYSTRAY_BACKEND", "dummy")  # before pystray is first imported

from typing import Any

import pytest

from kiosk_agent.content.locales import load_locale
from kiosk_agent.notices.tray import (
    STATE_COLORS,
    ToastGate,
    Tray,
    TrayActions,
    icon_image,
    list_age_hours,
    menu_entries,
    status_text,
    to_pystray,
    today_line,
    today_text,
    tray_state,
)

NOW = 1_800_000_000.0
PROTECTED = {"protected": True, "filter": {"lists": [{"list_id": "h", "updated_at": NOW - 7300}]}}


def test_tray_state_from_status() -> None:
    assert tray_state(None) == "problem"
    assert tray_state(PROTECTED) == "protected"
    assert tray_state({"protected": False, "problems": ["x"]}) == "problem"
    assert (
        tray_state({"protected": True, "components": {"updater": {"updating": True}}}) == "updating"
    )


def test_status_line_in_the_customers_language() -> None:
    assert list_age_hours(PROTECTED, NOW) == 2
    assert status_text(load_locale("en"), PROTECTED, NOW) == "Protected. List updated 2 hours ago"
    assert status_text(load_locale("sw"), None, NOW) == load_locale("sw").text("tray.problem")
    assert "?" in status_text(load_locale("en"), {"protected": True}, NOW)


def test_today_line_sums_the_counter_families() -> None:
    answer = {
        "counts": {
            "sessions.login": 3,
            "sessions.billing_hook": 2,
            "notices.shown.sw": 4,
            "notices.shown.en": 1,
            "notices.acknowledged": 5,
            "blocked.csam": 2,
            "tamper.doh": 1,
        }
    }
    assert today_text(load_locale("en"), answer) == "Today: 5 sessions, 5 notices, 2 pages blocked"


def test_tray_counts_take_their_cldr_plural_forms() -> None:
    """One hour / 2 hours; Arabic's six forms (one and two spell the number out)."""
    en, ar, fr = load_locale("en"), load_locale("ar"), load_locale("fr")
    hour_ago = {"protected": True, "filter": {"lists": [{"updated_at": NOW - 3600}]}}
    assert status_text(en, hour_ago, NOW) == "Protected. List updated 1 hour ago"
    assert today_line(en, 1, 0, 1) == "Today: 1 session, 0 notices, 1 page blocked"
    assert today_line(fr, 0, 1, 2) == "Aujourd'hui : 0 session, 1 avis, 2 blocages"
    assert today_line(ar, 1, 2, 3) == "اليوم: جلسة واحدة، إشعاران، 3 صفحات محجوبة"
    assert today_line(ar, 11, 100, 0) == "اليوم: 11 جلسة، 100 إشعار، 0 صفحة محجوبة"
    assert status_text(ar, hour_ago, NOW) == "محمي. تم تحديث القائمة قبل ساعة واحدة"


def test_toast_gate_allows_one_per_30_seconds() -> None:
    now = [0.0]
    gate = ToastGate(clock=lambda: now[0])
    assert gate.allow()
    now[0] = 10
    assert not gate.allow()
    now[0] = 29.9
    assert not gate.allow()
    now[0] = 30.0
    assert gate.allow()
    now[0] = 31
    assert not gate.allow()
    assert gate.suppressed == 3


class Calls:
    def __init__(self) -> None:
        self.log: list[str] = []

    def actions(self, with_report: bool = True) -> TrayActions:
        return TrayActions(
            show_notice=lambda: self.log.append("show"),
            set_language=lambda c: self.log.append(f"lang:{c}"),
            report_abuse=(lambda: self.log.append("report")) if with_report else None,
            helpline=lambda: self.log.append("helpline"),
            operator=lambda a: self.log.append(f"op:{a}"),
        )


def test_menu_entries() -> None:
    calls = Calls()
    entries = menu_entries(load_locale("sw"), ["sw", "en"], "Imelindwa", calls.actions())
    keys = [e.key for e in entries]
    assert keys == ["status", "show_notice", "language", "report_abuse", "helpline", "operator"]
    assert entries[0].action is None
    language = entries[2]
    assert [(c.label, c.checked) for c in language.children] == [
        ("Kiswahili", True),
        ("English", False),
    ]
    operator = entries[-1]
    assert [c.key for c in operator.children] == [
        "operator.update_now",
        "operator.pause",
        "operator.postpone_update",
        "operator.today",
    ]
    for child in operator.children:
        assert child.action is not None
        child.action()
    assert calls.log == ["op:update-now", "op:pause", "op:postpone-update", "op:today"]
    no_report = menu_entries(load_locale("en"), ["en"], "x", Calls().actions(with_report=False))
    assert [e.key for e in no_report] == ["status", "show_notice", "helpline", "operator"]


def test_pystray_menu_with_the_dummy_backend() -> None:
    import pystray

    calls = Calls()
    entries = menu_entries(load_locale("en"), ["en", "ar"], "Protected", calls.actions())
    menu = to_pystray(entries)
    icon = pystray.Icon("test", icon_image("protected"), "t", menu=menu)
    items: list[Any] = list(menu.items)
    assert [i.text for i in items] == [
        "Protected",
        "Show the safety tips",
        "Language",
        "Report abuse",
        "Child helpline",
        "Café operator",
    ]
    assert not items[0].enabled
    languages = list(items[2].submenu.items)
    assert [(i.text, i.checked, i.radio) for i in languages] == [
        ("English", True, True),
        ("العربية", False, True),
    ]
    languages[1](icon)
    items[1](icon)
    list(items[5].submenu.items)[1](icon)
    assert calls.log == ["lang:ar", "show", "op:pause"]


def test_tray_update_swaps_icon_and_menu() -> None:
    import pystray

    tray = Tray("kiosk-agent", on_click=lambda: None)
    tray.icon = pystray.Icon("t", icon_image("problem"), "t", menu=tray._menu())
    entries = menu_entries(load_locale("en"), ["en"], "Protected", Calls().actions())
    tray.update("protected", entries, "Protected")
    assert tray.state == "protected"
    assert tray.icon.title == "Protected"
    texts = [i.text for i in tray.icon.menu.items]
    assert texts[0] == "open" and texts[1] == "Protected"


@pytest.mark.parametrize("state", ["protected", "updating", "problem"])
def test_icon_images_differ_by_state(state: str) -> None:
    img = icon_image(state)
    assert img.size == (64, 64)
    pixel = img.getpixel((32, 8))
    assert isinstance(pixel, tuple) and pixel[:3] == STATE_COLORS[state]
