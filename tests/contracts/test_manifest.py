"""The feed directory: manifest parsing (fuzzed), choosing a file, atomic publishing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.contracts import feed, manifest
from kiosk_agent.contracts.manifest import Manifest, ManifestError, PublishError
from tests.filter.feed_helpers import delta, entries, full, keypair, random_hashes

KEY, PUB = keypair()
E1, E2, E3 = (entries(random_hashes(50 + i, i)) for i in (1, 2, 3))


def test_round_trip_and_choice() -> None:
    m = Manifest("hotline", 7, "full-7.bundle", {5: "delta-5-7.bundle", 6: "delta-6-7.bundle"})
    assert manifest.parse_manifest(manifest.manifest_bytes(m)) == m
    assert manifest.choose_file(m, None) == "full-7.bundle"
    assert manifest.choose_file(m, 6) == "delta-6-7.bundle"
    assert manifest.choose_file(m, 4) == "full-7.bundle"
    assert manifest.choose_file(m, 7) is None
    assert manifest.choose_file(m, 9) is None


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"list_id": "x", "latest": 1},
        {"list_id": "../x", "latest": 1, "full": "full-1.bundle"},
        {"list_id": "x", "latest": 0, "full": "full-0.bundle"},
        {"list_id": "x", "latest": True, "full": "full-1.bundle"},
        {"list_id": "x", "latest": 2, "full": "../../etc/passwd"},
        {"list_id": "x", "latest": 2, "full": "full-2.bundle", "deltas": {"1": "/tmp/x"}},
        {"list_id": "x", "latest": 2, "full": "full-2.bundle", "deltas": {"3": "delta-3-2.bundle"}},
        {"list_id": "x", "latest": 2, "full": "full-2.bundle", "deltas": []},
    ],
)
def test_bad_manifests(obj: object) -> None:
    with pytest.raises(ManifestError):
        manifest.parse_manifest(json.dumps(obj).encode())


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
            max_leaves=12,
        ).map(lambda o: json.dumps(o).encode()),
        st.fixed_dictionaries(
            {
                "list_id": st.text(max_size=10),
                "latest": st.integers(-2, 5),
                "full": st.sampled_from(["full-1.bundle", "full-2.bundle", "x"]),
                "deltas": st.dictionaries(st.text(max_size=3), st.text(max_size=20)),
            }
        ).map(lambda o: json.dumps(o).encode()),
    )
)
def test_parser_raises_only_manifest_error(data: bytes) -> None:
    try:
        m = manifest.parse_manifest(data)
    except ManifestError:
        return
    for name in m.files():
        assert "/" not in name and "\\" not in name and name.endswith(".bundle")


def test_publish_sequence(tmp_path: Path) -> None:
    d = tmp_path / "feeds" / "hotline"
    m1 = manifest.publish(d, [full(KEY, E1, 1)], trusted_keys=[PUB])
    assert (m1.latest, m1.full, dict(m1.deltas)) == (1, "full-1.bundle", {})
    m2 = manifest.publish(d, [full(KEY, E2, 2), delta(KEY, E1, E2, 1, 2)])
    assert dict(m2.deltas) == {1: "delta-1-2.bundle"}
    m3 = manifest.publish(d, [full(KEY, E3, 3), delta(KEY, E2, E3, 2, 3)])
    assert manifest.read_manifest(d) == m3
    assert sorted(p.name for p in d.iterdir()) == [
        "delta-2-3.bundle",
        "full-3.bundle",
        "manifest.json",
    ]
    # a delta added later to the same version
    m3b = manifest.publish(d, [delta(KEY, E1, E3, 1, 3)])
    assert dict(m3b.deltas) == {1: "delta-1-3.bundle", 2: "delta-2-3.bundle"}
    assert feed.read_bundle(d / "delta-1-3.bundle", [PUB], applied_version=1).header.version == 3
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]


def test_publish_refusals(tmp_path: Path) -> None:
    d = tmp_path / "feed"
    other_key, other_pub = keypair()
    with pytest.raises(PublishError, match="first publication"):
        manifest.publish(d, [delta(KEY, E1, E2, 1, 2)])
    manifest.publish(d, [full(KEY, E2, 2)])
    with pytest.raises(PublishError, match="not newer"):
        manifest.publish(d, [full(KEY, E1, 2)])
    with pytest.raises(PublishError, match="different lists"):
        manifest.publish(d, [full(KEY, E3, 3, list_id="other")])
    with pytest.raises(PublishError, match="does not lead"):
        manifest.publish(d, [full(KEY, E3, 4), delta(KEY, E2, E3, 2, 3)])
    with pytest.raises(PublishError, match="at most one"):
        manifest.publish(d, [full(KEY, E3, 4), full(KEY, E3, 5)])
    with pytest.raises(feed.UntrustedKey):
        manifest.publish(d, [full(other_key, E3, 4)], trusted_keys=[PUB])
    with pytest.raises(feed.BadFormat):
        manifest.publish(d, [b"not a bundle at all"])
    assert manifest.read_manifest(d) == Manifest("hotline", 2, "full-2.bundle", {})
    assert other_pub != PUB


def test_publish_keeps_recent_deltas(tmp_path: Path) -> None:
    d = tmp_path / "feed"
    manifest.publish(d, [full(KEY, E3, 10)])
    for base in range(1, 10):
        manifest.publish(d, [delta(KEY, E1, E3, base, 10)], keep_deltas=3)
    m = manifest.read_manifest(d)
    assert m is not None and sorted(m.deltas) == [7, 8, 9]
    assert len(list(d.glob("delta-*"))) == 3
