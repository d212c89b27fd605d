from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.errors import UserError
from kiosk_agent.installer.answers import load_answers, parse_answers, split_languages
from kiosk_agent.service.pin import hash_pin

GOOD: dict[str, Any] = {
    "language": "sw",
    "cafe": {
        "name": "Sunrise Net Café",
        "country": "KE",
        "region": "KE-NBO",
        "languages": ["sw", "en"],
    },
    "operator_pin": "4821",
    "server": "https://region.example.org/",
    "enrollment_code": "ABCD-2345",
}


def test_good_answers() -> None:
    a = parse_answers(GOOD)
    assert a.cafe_name == "Sunrise Net Café"
    assert a.languages == ("sw", "en")
    assert a.pin == "4821"
    assert a.server == "https://region.example.org"
    assert a.enrollment_code == "ABCD-2345"


def test_every_problem_reported_at_once() -> None:
    bad = {
        "cafe": {"name": "", "country": "kenya", "region": "KE NBO", "languages": ["Swahili"]},
        "operator_pin": "12",
        "enrollment_code": "ABCD-2345",
        "colour": "blue",
    }
    with pytest.raises(UserError) as e:
        parse_answers(bad, "a.yaml")
    text = str(e.value)
    for key in (
        "cafe.name",
        "cafe.country",
        "cafe.region",
        "cafe.languages",
        "operator_pin",
        "enrollment_code: needs server",
        "colour: unknown key",
    ):
        assert key in text, key


def test_pin_as_number_is_refused_with_a_hint() -> None:
    with pytest.raises(UserError, match="quotes"):
        parse_answers({**GOOD, "operator_pin": 482})


def test_missing_pin() -> None:
    data = {k: v for k, v in GOOD.items() if k != "operator_pin"}
    with pytest.raises(UserError, match="operator_pin: missing"):
        parse_answers(data)


def test_hashed_pin_accepted() -> None:
    stored = hash_pin("4821")
    data = {k: v for k, v in GOOD.items() if k != "operator_pin"}
    assert parse_answers({**data, "operator_pin_scrypt": stored}).pin_scrypt == stored


def test_load_answers_file(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(
        'cafe: {name: X, country: KE, region: KE-NBO, languages: "sw, en"}\noperator_pin: "0482"\n'
    )
    assert load_answers(f).languages == ("sw", "en")
    f.write_text("cafe: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_answers(f)
    with pytest.raises(UserError, match="cannot read"):
        load_answers(tmp_path / "missing.yaml")


def test_split_languages() -> None:
    assert split_languages(" SW, en;en  fr ") == ["sw", "en", "fr"]


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["language", "cafe", "operator_pin", "server", "enrollment_code", "feeds", "x"]
        ),
        yaml_values,
    )
    | yaml_values
)
def test_parser_raises_only_user_error(data: object) -> None:
    with contextlib.suppress(UserError):
        parse_answers(data)


def test_keys_pinned_at_install_reach_the_config(tmp_path: Path) -> None:
    from kiosk_agent.installer.config_writer import installed_config
    from tests.installer.fakes import live_layout

    key = "ed25519:" + "B" * 43 + "="
    updates = {"content": {"trust": [key]}, "keys": {"roots": [key]}}
    a = parse_answers({**GOOD, "updates": updates})
    assert a.updates == updates
    data = installed_config(a, live_layout(tmp_path))
    assert data["updates"] == updates
    with pytest.raises(UserError):
        installed_config(
            parse_answers({**GOOD, "updates": {"keys": {"roots": ["nope"]}}}),
            live_layout(tmp_path),
        )
    with pytest.raises(UserError):
        parse_answers({**GOOD, "updates": ["x"]})
