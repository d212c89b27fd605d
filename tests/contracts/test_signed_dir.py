"""Directories of signed files: manifest parsing (fuzzed), staged rollout, publishing."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.contracts import signed, signed_dir
from kiosk_agent.contracts.signed_dir import Manifest, ManifestError, Rollout
from tests.contracts.test_signed import KEY, NOW, OTHER_PUB, PUB, make


def test_round_trip() -> None:
    m = Manifest("content", "content", 3, {2: "content-2.signed", 3: "content-3.signed"},
                 Rollout(2, 10, ("Sunrise",)))  # fmt: skip
    assert signed_dir.parse_manifest(signed_dir.manifest_bytes(m)) == m


@pytest.mark.parametrize(
    "text",
    [
        b"[]",
        b'{"kind": "feed", "subject": "x", "latest": 1, "files": {"1": "feed-1.signed"}}',
        b'{"kind": "content", "subject": "x", "latest": 1, "files": {"1": "../x"}}',
        b'{"kind": "content", "subject": "x", "latest": 2, "files": {"1": "content-1.signed"}}',
        b'{"kind": "content", "subject": "x", "latest": 1, "files": {"1": "content-1.signed"},'
        b' "rollout": {"stable": 1}}',
    ],
)
def test_bad_manifests(text: bytes) -> None:
    with pytest.raises(ManifestError):
        signed_dir.parse_manifest(text)


@given(st.binary(max_size=300))
def test_parser_only_manifest_errors(data: bytes) -> None:
    with contextlib.suppress(ManifestError):
        signed_dir.parse_manifest(data)


def test_staged_share_is_deterministic_and_about_right() -> None:
    m = Manifest("content", "content", 3, {2: "content-2.signed", 3: "content-3.signed"},
                 Rollout(2, 20, ("Sunrise",)))  # fmt: skip
    picks = Counter(signed_dir.target_version(m, f"kiosk-{i}", None) for i in range(2000))
    assert 300 < picks[3] < 500 and picks[3] + picks[2] == 2000
    assert all(
        signed_dir.target_version(m, f"kiosk-{i}", None)
        == signed_dir.target_version(m, f"kiosk-{i}", "Elsewhere")
        for i in range(100)
    )
    assert signed_dir.target_version(m, "anyone", "Sunrise") == 3
    assert signed_dir.target_version(m, None, None) == 2
    assert signed_dir.to_fetch(m, 2, None, "Sunrise", chain=False) == ["content-3.signed"]
    assert signed_dir.to_fetch(m, 3, None, "Sunrise", chain=False) == []


def test_chain_fetches_every_version_above_applied() -> None:
    m = Manifest("keys", "keys", 3, {v: f"keys-{v}.signed" for v in (1, 2, 3)})
    assert signed_dir.to_fetch(m, 1, None, None, chain=True) == ["keys-2.signed", "keys-3.signed"]


def test_publish_stage_and_promote(tmp_path: Path) -> None:
    d = tmp_path / "content"
    signed_dir.publish(d, make(1), trusted_keys=[PUB])
    with pytest.raises(ManifestError):
        signed_dir.publish(d, make(1))
    with pytest.raises(signed.UntrustedKey):
        signed_dir.publish(d, make(2), trusted_keys=[OTHER_PUB])
    m = signed_dir.publish(d, make(2), percent=10)
    assert m.rollout == Rollout(1, 10, ())
    m = signed_dir.publish(d, make(3), cafes=["Sunrise"])
    assert m.rollout == Rollout(1, 0, ("Sunrise",))  # stable stays what everyone had
    assert signed_dir.read_manifest(d) == m
    assert signed_dir.promote(d).rollout is None
    assert sorted(p.name for p in d.iterdir()) == [
        "content-1.signed", "content-2.signed", "content-3.signed", "manifest.json"]  # fmt: skip
    with pytest.raises(ManifestError):
        signed_dir.publish(d, make(4, kind="settings"))
    assert KEY is not None and NOW
