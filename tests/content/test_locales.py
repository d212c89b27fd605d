"""Locale files: loading, validation against English, placeholder filling."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.content.locales import (
    LocaleError,
    choose_locale,
    fill,
    load_locale,
    locale_problems,
    parse_locale,
    placeholders,
    shipped_codes,
)

REQUIRED = [
    "en",
    "fr",
    "pt",
    "es",
    "ar",
    "sw",
    "am",
    "ha",
    "hi",
    "bn",
    "th",
    "km",
    "vi",
    "id",
    "fil",
    "ur",
    "ne",
    "my",
    "yo",
    "so",
    "mg",
    "lo",
    "si",
]

TIPS = "[" + ", ".join(f'{{id: t{i:02d}, icon: lock, text: "tip {i}"}}' for i in range(1, 13)) + "]"
MINI_EN = f"""
reviewed: false
language: {{name: English, direction: ltr, script: Latn, gender: none}}
notice:
  title: "Hello"
  tips: {TIPS}
  helpline: "Call {{helpline}}."
"""


def test_every_required_locale_is_shipped_and_clean() -> None:
    assert set(REQUIRED) <= set(shipped_codes())
    reference = load_locale("en")
    for code in shipped_codes():
        loc = load_locale(code)
        assert locale_problems(loc, reference) == [], code
        assert loc.reviewed is False, f"{code}: only a native speaker may set reviewed: true"


def test_arabic_is_right_to_left_and_others_are_not() -> None:
    assert load_locale("ar").is_rtl
    assert load_locale("ar").script == "Arab"
    assert not load_locale("km").is_rtl
    assert load_locale("am").script == "Ethi"


def test_text_fills_placeholders() -> None:
    loc = load_locale("sw")
    line = loc.text("notice.helpline", helpline="116")
    assert "116" in line and "{" not in line


def test_fill_requires_every_value_and_ignores_format_syntax() -> None:
    assert fill("Call {helpline}.", {"helpline": "116 111"}) == "Call 116 111."
    assert fill("{x.__class__} {0}", {}) == "{x.__class__} {0}"
    with pytest.raises(ValueError, match="helpline"):
        fill("Call {helpline}.", {})


def test_placeholders() -> None:
    assert placeholders("{a} and {b_c} not {0} or {D}") == {"a", "b_c"}


def test_problems_missing_key_placeholder_mismatch_empty_and_extra() -> None:
    ref = parse_locale("en", MINI_EN)
    bad = parse_locale(
        "xx",
        f"""
reviewed: false
language: {{name: X, direction: ltr, script: Latn, gender: none}}
notice:
  title: ""
  tips: {TIPS}
  helpline: "Call {{number}}."
  extra: "?"
""",
    )
    problems = locale_problems(bad, ref)
    assert "notice.title: empty" in problems
    assert any(p.startswith("notice.helpline: placeholders {number}") for p in problems)
    assert "notice.extra: not in English (typo?)" in problems
    missing = parse_locale("xx", MINI_EN.replace('  helpline: "Call {helpline}."\n', ""))
    assert locale_problems(missing, ref) == ["notice.helpline: missing"]


def test_too_few_tips_is_a_problem() -> None:
    ref = parse_locale("en", MINI_EN)
    few = parse_locale("xx", MINI_EN.replace(TIPS, '[{id: t01, icon: lock, text: "a"}]'))
    problems = locale_problems(few, ref)
    assert any("1 tips" in p for p in problems)
    assert "notice.tips.t02: missing" in problems  # tips are compared by id


def test_tips_share_ids_and_icons_with_english() -> None:
    ref = parse_locale("en", MINI_EN)
    other = parse_locale("xx", MINI_EN.replace("{id: t03, icon: lock", "{id: t03, icon: key"))
    assert "notice.tips.t03: icon key but English has lock" in locale_problems(other, ref)
    missing_png = parse_locale("xx", MINI_EN.replace("icon: lock", "icon: nosuchicon"))
    assert any("no picture nosuchicon.png" in p for p in locale_problems(missing_png, ref))
    loc = load_locale("sw")
    assert [t.id for t in loc.tips] == [t.id for t in load_locale("en").tips]
    assert loc.tip("t05") is not None and loc.tip("t99") is None


@pytest.mark.parametrize(
    ("tips", "message"),
    [
        ('["a"]', "needs id, icon and text"),
        ("{id: t01}", "must be a list"),
        ('[{id: t00, icon: lock, text: "a"}]', "is not t01..t39"),
        ('[{id: t40, icon: lock, text: "a"}]', "is not t01..t39"),
        ('[{id: t01, icon: "../x", text: "a"}]', "not an icon name"),
        ('[{id: t01, icon: lock, text: "a"}, {id: t01, icon: lock, text: "b"}]', "twice"),
        ('[{id: t01, icon: lock, text: "a", colour: red}]', "unknown colour"),
        ('[{id: t01, icon: lock, text: "a", author: [1]}]', "author must be text"),
    ],
)
def test_bad_tips_make_the_file_unusable(tips: str, message: str) -> None:
    with pytest.raises(LocaleError, match=message):
        parse_locale("xx", MINI_EN.replace(TIPS, tips))


def test_tip_author_and_reading_speed_are_read() -> None:
    text = MINI_EN.replace(
        '{id: t01, icon: lock, text: "tip 1"}',
        '{id: t01, icon: lock, text: "tip 1", author: "Written by young people in Nairobi"}',
    ).replace("gender: none}", "gender: none, reading_cpm: 900}")
    loc = parse_locale("xx", text)
    assert loc.tips[0].author == "Written by young people in Nairobi"
    assert loc.tips[1].author == ""
    assert loc.reading_cpm == 900
    with pytest.raises(LocaleError, match="reading_cpm"):
        parse_locale("xx", text.replace("reading_cpm: 900", "reading_cpm: fast"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "mapping"),
        ("reviewed: false", "missing"),
        (MINI_EN.replace("direction: ltr", "direction: up"), "direction"),
        (MINI_EN.replace("script: Latn", "script: Cyrl"), "script"),
        (MINI_EN.replace("reviewed: false", "reviewed: maybe"), "reviewed"),
        (MINI_EN.replace('"Hello"', "42"), "expected text"),
        ("a: [", "YAML"),
    ],
)
def test_unusable_files_raise_locale_error(text: str, message: str) -> None:
    with pytest.raises(LocaleError, match=message):
        parse_locale("xx", text)


@given(st.text(max_size=300))
def test_parser_never_fails_otherwise(text: str) -> None:
    with contextlib.suppress(LocaleError):
        parse_locale("xx", text)


def test_choose_locale_falls_back_to_english() -> None:
    assert choose_locale(["xx", "sw", "en"], ["en", "sw"]) == "sw"
    assert choose_locale(["zz"], ["en", "sw"]) == "en"


PLURAL_EN = MINI_EN.replace(
    "gender: none}}", "gender: none, plural: {one: 'i = 1 and v = 0'}}"
).replace("gender: none}", "gender: none, plural: {one: 'i = 1 and v = 0'}}") + (
    '  wait: {one: "in {seconds} second", other: "in {seconds} seconds"}\n'
)


def test_plural_forms_follow_the_rules() -> None:
    en = parse_locale("en", PLURAL_EN)
    assert en.text("notice.wait", seconds=1) == "in 1 second"
    assert en.text("notice.wait", seconds=8) == "in 8 seconds"
    assert en.strings["notice.wait"] == "in {seconds} seconds"  # "other" stands for it
    ar_like = PLURAL_EN.replace(
        "plural: {one: 'i = 1 and v = 0'}",
        "plural: {one: 'n = 1', two: 'n = 2', few: 'n % 100 = 3..10'}",
    ).replace(
        '{one: "in {seconds} second", other: "in {seconds} seconds"}',
        '{one: "in one second", two: "in two seconds", few: "in {seconds} s", other: "{seconds}"}',
    )
    ar = parse_locale("xx", ar_like)
    assert [ar.text("notice.wait", seconds=n) for n in (1, 2, 5, 11, 103)] == [
        "in one second",
        "in two seconds",
        "in 5 s",
        "11",
        "in 103 s",
    ]
    assert locale_problems(ar, en) == []
    missing = parse_locale("xx", ar_like.replace(' two: "in two seconds",', ""))
    problems = locale_problems(missing, en)
    assert any("forms few, one, other but the plural rules need" in p for p in problems)
    flat = parse_locale(
        "xx",
        PLURAL_EN.replace(
            '{one: "in {seconds} second", other: "in {seconds} seconds"}', '"in {seconds} s"'
        ),
    )
    assert "notice.wait: needs plural forms (one, other)" in locale_problems(flat, en)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PLURAL_EN.replace("'i = 1 and v = 0'", "'i = 1 and x = 0'"), "unknown operand"),
        (PLURAL_EN.replace("{one: 'i = 1 and v = 0'}", "{other: 'n = 1'}"), "category"),
        (PLURAL_EN.replace('{one: "in', '{uno: "in'), "CLDR categories"),
        (PLURAL_EN.replace("gender: none", "gender: female"), "language.gender"),
    ],
)
def test_bad_plural_or_gender_fields(text: str, message: str) -> None:
    with pytest.raises(LocaleError, match=message):
        parse_locale("xx", text)


def test_every_shipped_locale_says_how_it_handles_gender() -> None:
    for code in shipped_codes():
        loc = load_locale(code)
        assert loc.gender in ("none", "neutral", "masculine_default"), code
    # Hindi marks gender in verbs: its texts are worded neutrally ("मैं समझ गया" was
    # masculine).
    hi = load_locale("hi")
    assert hi.gender == "neutral"
    assert "समझ गया" not in hi.text("notice.acknowledge")
