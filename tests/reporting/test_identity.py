"""Kiosk key pair, enrollment against the stand-in server, and the enroll-answer parser."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.contracts.report import HEADER_SIGNATURE, signing_string
from kiosk_agent.reporting.identity import (
    KEY_FILE,
    EnrollError,
    KioskKey,
    enroll,
    load_enrollment,
    parse_enroll_response,
)
from tests.reporting.report_server import ReportServer


def test_key_made_once_private_and_reused(tmp_path: Path) -> None:
    key = KioskKey.load_or_create(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = KioskKey.load_or_create(tmp_path)
    assert again.public_key_text() == key.public_key_text()
    assert key.public_key_text().startswith("ed25519:")
    os.chmod(path, 0o644)
    KioskKey.load_or_create(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_signed_headers_verify(tmp_path: Path) -> None:
    key = KioskKey.load_or_create(tmp_path)
    headers = key.signed_headers("k1", "POST", "/api/v1/reports", 1_800_000_000, b"body")
    raw = base64.b64decode(key.public_key_text()[8:])
    Ed25519PublicKey.from_public_bytes(raw).verify(
        base64.b64decode(headers[HEADER_SIGNATURE]),
        signing_string("POST", "/api/v1/reports", 1_800_000_000, b"body"),
    )


def test_enroll_stores_id_and_region(tmp_path: Path) -> None:
    with ReportServer({"ONE-TIME": ("KE-NBO", "KE")}) as server, requests.Session() as session:
        done = enroll(tmp_path, server.url + "/", "ONE-TIME", session, now=1.0e9)
        assert done.region == "KE-NBO"
        assert load_enrollment(tmp_path) == done
        assert done.server == server.url
        assert server.state.kiosks[done.kiosk_id] == base64.b64decode(
            KioskKey.load_or_create(tmp_path).public_key_text()[8:]
        )
        # A used code is refused, with the server's words.
        with pytest.raises(EnrollError, match="unknown or used enrollment code"):
            enroll(tmp_path, server.url, "ONE-TIME", session, now=1.0e9)


def test_enroll_unreachable_server(tmp_path: Path) -> None:
    with requests.Session() as session, pytest.raises(EnrollError, match="could not reach"):
        enroll(tmp_path, "http://127.0.0.1:9", "X", session, now=1.0e9, timeout=2)


def test_bad_enrollment_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "kiosk.json").write_text('{"kiosk_id": "../etc", "region": 1}')
    assert load_enrollment(tmp_path) is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


@given(
    st.one_of(
        _json,
        st.fixed_dictionaries(
            {"kiosk_id": st.text(max_size=70), "region": _json, "country": st.text(max_size=5)}
        ),
    )
)
def test_parse_enroll_response_raises_only_enroll_error(data: Any) -> None:
    try:
        kiosk_id, region, country = parse_enroll_response(data)
    except EnrollError:
        return
    assert kiosk_id and isinstance(region, str) and isinstance(country, str)
