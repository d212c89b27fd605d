from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.installer.answers import parse_feed_line
from kiosk_agent.installer.strings import ENGLISH, available_languages, load_strings
from kiosk_agent.installer.wizard import Current, run_wizard, scripted_io
from kiosk_agent.service.pin import hash_pin

KEY = "ed25519:" + "A" * 43 + "="

META = "reviewed: false\n"
LTR = "direction: ltr, script: Latn"


def _locales(tmp_path: Path) -> Path:
    d = tmp_path / "locales"
    d.mkdir()
    (d / "en.yaml").write_text(f"{META}language: {{name: English, {LTR}}}\nwizard: {{}}\n")
    (d / "fr.yaml").write_text(
        f"{META}language: {{name: Français, {LTR}}}\n"
        'wizard: {cafe_name: "Quel est le nom de votre cybercafé ?", done: "Terminé !"}\n'
    )
    return d


def test_first_install_asks_everything(tmp_path: Path) -> None:
    said: list[str] = []
    io = scripted_io(
        [
            "fr",
            "Chez Awa",
            "sn",
            "sn-dk",
            "fr, wo",
            "12",
            "4821",
            "4822",
            "4821",
            "4821",
            "https://region.example.org/",
            "ABCD-2345",
            "https://region.example.org/feeds/hotline",  # no key: asked again
            f"{KEY}  https://region.example.org/feeds/hotline",
        ],
        said,
    )
    a = run_wizard(io, locales_dir=_locales(tmp_path))
    assert (a.cafe_name, a.country, a.region, a.languages) == (
        "Chez Awa",
        "SN",
        "SN-DK",
        ("fr", "wo"),
    )
    assert a.pin == "4821" and a.language == "fr"
    assert a.server == "https://region.example.org" and a.enrollment_code == "ABCD-2345"
    assert "Quel est le nom de votre cybercafé ?" in said  # the chosen language
    assert ENGLISH["pin_too_short"] in said  # "12"
    assert ENGLISH["pin_mismatch"] in said  # 4821 / 4822
    assert any("en: English" in line and "fr: Français" in line for line in said)
    assert a.feeds == ({"url": "https://region.example.org/feeds/hotline", "trust": [KEY]},)
    assert any("publisher's key" in line for line in said)


def test_repair_keeps_current_answers_on_enter(tmp_path: Path) -> None:
    stored = hash_pin("4821")
    current = Current("Sunrise", "KE", "KE-NBO", ("sw", "en"), stored, "https://r.example.org")
    said: list[str] = []
    io = scripted_io([""] * 9, said)
    a = run_wizard(io, dataclasses.replace(current, feeds=2), locales_dir=_locales(tmp_path))
    assert a.feeds == ()  # the configured feeds stay (config_writer merges)
    assert any("Enter keeps the 2 feed(s)" in line for line in said)
    assert a.cafe_name == "Sunrise" and a.languages == ("sw", "en")
    assert a.pin is None and a.pin_scrypt == stored
    assert a.server == "https://r.example.org" and a.enrollment_code is None


def test_bad_answers_are_asked_again(tmp_path: Path) -> None:
    said: list[str] = []
    io = scripted_io(
        [
            "en",
            "",
            "Café",
            "Kenya",
            "KE",
            "KE NBO",
            "KE-NBO",
            "Swahili",
            "sw",
            "4821",
            "4821",
            "ftp://x",
            "",
            "",  # no feed: said what that means
        ],
        said,
    )
    a = run_wizard(io, locales_dir=_locales(tmp_path))
    assert (a.country, a.region, a.languages, a.server) == ("KE", "KE-NBO", ("sw",), None)
    assert sum("Please check this answer" in line for line in said) == 5
    assert a.feeds == () and ENGLISH["no_feed"] in said


def test_end_of_input_raises(tmp_path: Path) -> None:
    with pytest.raises(EOFError):
        run_wizard(scripted_io(["en", "Café"], []), locales_dir=_locales(tmp_path))


def test_strings_fall_back_to_english(tmp_path: Path) -> None:
    d = _locales(tmp_path)
    fr = load_strings("fr", d)
    assert fr.text("done") == "Terminé !"
    assert fr.text("pin_again") == ENGLISH["pin_again"]
    assert load_strings("xx", d).text("done") == ENGLISH["done"]
    assert available_languages(d) == {"en": "English", "fr": "Français"}


def test_broken_placeholder_in_a_locale_falls_back(tmp_path: Path) -> None:
    d = _locales(tmp_path)
    (d / "fr.yaml").write_text(
        f'{META}language: {{name: Français, {LTR}}}\nwizard: {{failed: "Échec : {{erreur}}"}}\n'
    )
    assert load_strings("fr", d).text("failed", error="x") == ENGLISH["failed"].format(error="x")


def test_shipped_locales_carry_the_wizard() -> None:
    languages = available_languages()
    assert len(languages) >= 15 and languages["fr"] == "Français"
    for code in languages:
        if code != "en":
            s = load_strings(code)
            assert s.text("title") != ENGLISH["title"], code
            assert s.text("failed", error="X").count("X") == 1, code


@given(st.text(max_size=200))
def test_feed_line_parser_answers_or_says_why(text: str) -> None:
    feed, problem = parse_feed_line(text)
    assert (feed is None) != (problem is None)
    if feed is not None:
        assert str(feed["url"]) in text and all(k in text for k in feed["trust"])


def test_feed_line_forms() -> None:
    url = "https://region.example.org/feeds/hotline"
    assert parse_feed_line(f"{url}, {KEY}")[0] == {"url": url, "trust": [KEY]}
    assert parse_feed_line(f"{KEY} {url} {KEY}")[0] == {"url": url, "trust": [KEY]}
    assert "exactly one address" in (parse_feed_line(f"{url} {url} {KEY}")[1] or "")
    assert "neither" in (parse_feed_line(f"{url} ed25519:short")[1] or "")
