from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.config import parse_config
from kiosk_agent.service.pin import (
    PinFormatError,
    hash_pin,
    parse_pin_hash,
    validate_pin,
    verify_pin,
)


def test_hash_then_verify() -> None:
    stored = hash_pin("4821")
    assert stored.startswith("scrypt$")
    assert verify_pin("4821", stored)
    assert not verify_pin("4822", stored)
    assert not verify_pin("", stored)


def test_salted_each_time() -> None:
    assert hash_pin("4821") != hash_pin("4821")


def test_missing_or_malformed_hash_never_verifies() -> None:
    assert not verify_pin("4821", None)
    assert not verify_pin("4821", "")
    assert not verify_pin("4821", "scrypt$16384$8$1$!!$!!")
    assert not verify_pin("4821", "plain-4821")


def test_absurd_parameters_refused() -> None:
    good = hash_pin("4821")
    parts = good.split("$")
    parts[1] = str(2**30)
    with pytest.raises(PinFormatError):
        parse_pin_hash("$".join(parts))
    assert not verify_pin("4821", "$".join(parts))


def test_config_accepts_the_stored_hash() -> None:
    stored = hash_pin("4821")
    config = parse_config(f'operator: {{pin_scrypt: "{stored}"}}\n')
    assert config.operator.pin_scrypt == stored


@pytest.mark.parametrize(
    ("pin", "ok"),
    [("4821", True), ("12", False), ("1111", False), ("12 34", False), ("abcd", False)],
)
def test_validate_pin(pin: str, ok: bool) -> None:
    assert (validate_pin(pin) is None) == ok


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_parser_raises_only_its_error(text: str) -> None:
    with contextlib.suppress(PinFormatError):
        parse_pin_hash(text)
    assert verify_pin("1234", text) in (True, False)
