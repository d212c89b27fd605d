"""countries.yaml: every entry sourced; contact lines fall back to 116 111 guidance."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.content.countries import (
    CountriesError,
    contact_lines,
    country_for,
    load_countries,
    parse_countries,
)
from kiosk_agent.content.locales import load_locale


def test_every_shipped_entry_has_a_source() -> None:
    countries = load_countries()
    assert {"KE", "IN", "KH", "VN"} <= set(countries)
    for country in countries.values():
        assert country.helplines or country.reports
        sources = [h.source for h in country.helplines] + [r.source for r in country.reports]
        assert all(s.strip() for s in sources)


def test_contact_lines_for_a_listed_country() -> None:
    lines = contact_lines(load_locale("en"), country_for("in"))
    assert lines.helpline == "Want to talk to someone? Call 1098."
    assert lines.report == "To report something bad you saw online: cybercrime.gov.in"
    assert lines.report_url == "https://cybercrime.gov.in"
    # "free" / "confidential" are said only where the country data says so.
    assert lines.helpline_notes == ""


def test_free_and_confidential_only_where_the_entry_says_so() -> None:
    text = (
        "KE: {name: Kenya, helplines: [{number: '116', name: X, source: s, free: true}]}\n"
        "UG: {name: Uganda, helplines: [{number: '116', name: X, source: s,"
        " free: true, confidential: true}]}\n"
        "TZ: {name: Tanzania, helplines: [{number: '116', name: X, source: s}]}\n"
    )
    countries = parse_countries(text)
    en = load_locale("en")
    assert contact_lines(en, countries["KE"]).helpline_notes == "It is free."
    both = contact_lines(en, countries["UG"]).helpline_notes
    assert both == "It is free. It is confidential."
    assert contact_lines(en, countries["TZ"]).helpline_notes == ""
    with pytest.raises(CountriesError, match="free must be true or false"):
        parse_countries("KE: {name: K, helplines: [{number: '116', name: X, source: s, free: 1}]}")


def test_unknown_country_gets_the_general_guidance_not_a_guess() -> None:
    for code in ("ET", None, "ZZ"):
        lines = contact_lines(load_locale("am"), country_for(code))
        assert "116 111" in lines.helpline
        assert lines.helpline_number is None and lines.report_url is None


def test_block_page_section_uses_its_own_lines() -> None:
    lines = contact_lines(load_locale("fr"), country_for("FR"), "block_page")
    assert "119" in lines.helpline and "pointdecontact.net" in lines.report


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("KE: {name: Kenya, helplines: [{number: '116', name: X}]}", "source is required"),
        ("KE: {name: Kenya, helplines: [{number: 'call me', name: X, source: s}]}", "bad number"),
        (
            "KE: {name: Kenya, report: [{url: 'http://x.example', name: X, source: s}]}",
            "report url",
        ),
        ("kenya: {name: Kenya}", "ISO 3166"),
        ("[1]", "mapping"),
    ],
)
def test_malformed_tables_are_rejected(text: str, message: str) -> None:
    with pytest.raises(CountriesError, match=message):
        parse_countries(text)


@given(st.text(max_size=200))
def test_parser_never_fails_otherwise(text: str) -> None:
    with contextlib.suppress(CountriesError):
        parse_countries(text)


def test_unconfirmed_entries_name_a_page_and_the_day_it_was_read() -> None:
    # Issue 21's entries were found by a search, not confirmed by a person: each says so
    # (verified: false), with the day it was read and at least one page address.
    import yaml

    from kiosk_agent.content.active import BUILTIN_COUNTRIES

    data = yaml.safe_load(BUILTIN_COUNTRIES.read_text("utf-8"))
    unconfirmed = 0
    for code, entry in data.items():
        for item in [*(entry.get("helplines") or []), *(entry.get("report") or [])]:
            if "verified" not in item:
                continue
            unconfirmed += 1
            assert item["verified"] is False, code
            assert item["checked"] == "2026-12-03", code
            assert "https://" in item["source"] or "http://" in item["source"], code
    assert unconfirmed >= 45
