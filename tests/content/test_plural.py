"""CLDR plural rules evaluated without Babel, and compared with Babel's CLDR data."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.content.check import CLDR_LOCALE, cldr_problems
from kiosk_agent.content.locales import load_locale, shipped_codes
from kiosk_agent.content.plural import PluralRuleError, category, parse_rule, parse_rules
from tests.conftest import require

try:
    from babel.core import Locale as CldrLocale
except ImportError:  # pragma: no cover - Babel is a dev dependency
    CldrLocale = None  # type: ignore[assignment, misc]

LANGS = ["en", "fr", "pt_PT", "es", "ar", "sw", "am", "ha", "hi", "bn", "th", "km", "vi", "id"]
LANGS += ["fil", "ur", "ne", "my", "yo", "so", "mg", "lo", "si", "ru", "pl", "cy", "ga", "lv"]


@pytest.mark.parametrize("code", LANGS)
def test_same_categories_as_babel_for_whole_numbers(code: str) -> None:
    require(CldrLocale is not None, "Babel is not installed")
    assert CldrLocale is not None
    cldr = CldrLocale.parse(code).plural_form
    ours = parse_rules(cldr.rules)
    assert [category(ours, n) for n in range(0, 1200)] == [cldr(n) for n in range(0, 1200)]


def test_both_spellings() -> None:
    arabic_few = parse_rule("n % 100 = 3..10")
    assert arabic_few(103) and arabic_few(5) and not arabic_few(11)
    assert parse_rule("n mod 100 in 3..10")(110)
    assert parse_rule("i != 0 and v = 0")(4) and not parse_rule("i not in 0")(0)
    assert parse_rule("n = 1 @integer 1")(1)  # samples are ignored


@pytest.mark.parametrize(
    "rule",
    ["", "n", "n = ", "n = 1 or", "q = 1", "n % 0 = 1", "n = 5..2", "n == 1", "n not 1", "n = x"],
)
def test_bad_rules(rule: str) -> None:
    with pytest.raises(PluralRuleError):
        parse_rule(rule)


@given(st.text(max_size=80))
def test_rule_parser_never_fails_otherwise(rule: str) -> None:
    with contextlib.suppress(PluralRuleError):
        predicate = parse_rule(rule)
        predicate(7)


@given(st.integers(min_value=0, max_value=10**6))
def test_arabic_always_has_a_category(n: int) -> None:
    rules = parse_rules(load_locale("ar").plural_rules)
    assert category(rules, n) in ("zero", "one", "two", "few", "many", "other")


def test_shipped_locales_match_cldr() -> None:
    require(CldrLocale is not None, "Babel is not installed")
    for code in shipped_codes():
        assert cldr_problems(load_locale(code)) == [], code
    assert CLDR_LOCALE["pt"] == "pt_PT"


def test_a_wrong_rule_is_reported() -> None:
    require(CldrLocale is not None, "Babel is not installed")
    from dataclasses import replace

    en = load_locale("en")
    wrong = replace(en, plural_rules={"one": "n = 1..2"})
    assert cldr_problems(wrong) == ["language.plural: differs from CLDR for 2"]
    none = replace(en, plural_rules={})
    assert "categories none but CLDR has one" in cldr_problems(none)[0]


def test_without_babel_the_rules_are_not_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    import kiosk_agent.content.check as check

    monkeypatch.setattr(check, "cldr_available", lambda: False)
    from dataclasses import replace

    wrong = replace(load_locale("en"), plural_rules={"one": "n = 1..2"})
    assert check.cldr_problems(wrong) == []  # the one-file program: said once by the CLI
