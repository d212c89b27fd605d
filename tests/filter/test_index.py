"""The blocklist index: lookups, suspect hosts, full and delta updates, atomic swaps."""

from __future__ import annotations

import os
import threading
from array import array
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_agent.contracts import feed
from kiosk_agent.filter import index
from kiosk_agent.filter.index import BlocklistIndex, IndexHolder, apply_bundle, build_index
from kiosk_agent.filter.sources import entries_from_sources, read_source
from kiosk_agent.filter.urls import hash_int
from tests.filter.feed_helpers import CATS, NOW, delta, entries, full, keypair, random_hashes

KEY, PUB = keypair()

LIST_V1 = {
    "csam": ["evil.example", "0.0.0.0 bad.example", "http://www.pages.example/a/b.html?x=1"],
    "grooming": ["||chat.example^", "10.1.2.3"],
}
LIST_V2 = {
    "csam": ["evil.example", "new.example"],
    "grooming": ["||chat.example^", "http://forum.example/t/1"],
}


def _entries(lists: dict[str, list[str]]) -> feed.FeedEntries:
    return entries_from_sources(CATS, {cid: read_source(lines) for cid, lines in lists.items()})


def _read(data: bytes, applied: int | None = None) -> feed.Bundle:
    return feed.read_bundle(data, [PUB], applied_version=applied, now=NOW)


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    path = index.index_path(tmp_path, "hotline")
    build_index(path, [_read(full(KEY, _entries(LIST_V1)))])
    return path


def test_lookups(v1: Path) -> None:
    with BlocklistIndex.open(v1) as idx:
        assert (idx.list_id, idx.version, len(idx)) == ("hotline", 1, 6)
        assert idx.lookup_host("evil.example") == "csam"
        assert idx.lookup_host("WWW.Sub.Evil.Example.") == "csam"
        assert idx.lookup_host("bad.example") == "csam"
        assert idx.lookup_host("x.chat.example") == "grooming"
        assert idx.lookup_host("10.1.2.3") == "grooming"
        assert idx.lookup_host("167838211") == "grooming"  # 10.1.2.3 as one integer
        assert idx.lookup_host("example") is None
        assert idx.lookup_host("good.example") is None
        assert idx.lookup_host("") is None
        # URL-level entry: not a host block, but its host is suspect (and its parents' not)
        assert idx.lookup_host("www.pages.example") is None
        assert idx.suspect_host("www.pages.example")
        assert idx.suspect_host("deep.www.pages.example")
        assert not idx.suspect_host("pages.example")
        assert not idx.suspect_host("evil.example")
        assert idx.lookup_url("http://www.pages.example/a/b.html?x=1") == "csam"
        assert idx.lookup_url("https://m.www.pages.example/a/b.html?x=1#top") == "csam"
        assert idx.lookup_url("http://www.pages.example/a/b.html") is None
        assert idx.lookup_url("http://evil.example/anything") == "csam"
        assert idx.lookup_url("http:///") is None


def test_no_cleartext_in_the_index(v1: Path) -> None:
    data = v1.read_bytes()
    for word in (b"evil", b"pages", b"chat.example"):
        assert word not in data


def test_delta_update(v1: Path) -> None:
    e1, e2 = _entries(LIST_V1), _entries(LIST_V2)
    info = apply_bundle(v1, _read(delta(KEY, e1, e2, 1, 2), applied=1))
    assert (info.version, info.total) == (2, e2.total())
    with BlocklistIndex.open(v1) as idx:
        assert idx.lookup_host("new.example") == "csam"
        assert idx.lookup_host("bad.example") is None
        assert idx.lookup_host("chat.example") == "grooming"
        assert not idx.suspect_host("www.pages.example")
        assert idx.suspect_host("forum.example")
        assert idx.lookup_url("http://forum.example/t/1/") is None
        assert idx.lookup_url("http://forum.example/t/1") == "grooming"


@pytest.mark.parametrize("copy_entries", [7, 1 << 17])
def test_delta_equals_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copy_entries: int
) -> None:
    """Applying v1 + delta(v1->v2) gives the same arrays as the full v2."""
    monkeypatch.setattr(index, "_COPY_ENTRIES", copy_entries)  # unchanged runs in pieces
    base = entries(random_hashes(20000, 1), random_hashes(3000, 2), suspects=random_hashes(50, 3))
    kept = array("Q", base.hashes[1][::2])
    new = entries(
        array("Q", sorted(set(kept) | set(random_hashes(700, 4)))),
        base.hashes[2],
        suspects=random_hashes(60, 5),
    )
    a, b = tmp_path / "a.idx", tmp_path / "b.idx"
    build_index(a, [_read(full(KEY, base)), _read(delta(KEY, base, new, 1, 2), applied=1)])
    build_index(b, [_read(full(KEY, new, version=2))])
    with BlocklistIndex.open(a) as ia, BlocklistIndex.open(b) as ib:
        for code in (0, 1, 2):
            assert ia.array(code).tobytes() == ib.array(code).tobytes()
            assert array("Q", ia.array(code)) == new.hashes[code]
        assert ia.info.counts == ib.info.counts
        # every entry is found through the bucket tables, and random misses are not
        for code in (1, 2):
            blocks = dict(ia._blocks)
            arr = blocks[CATS[code - 1].id]
            assert all(h in arr for h in new.hashes[code])
            assert not any(h in arr for h in random_hashes(2000, 99))


def test_delta_against_the_wrong_index(v1: Path, tmp_path: Path) -> None:
    e1, e2 = _entries(LIST_V1), _entries(LIST_V2)
    d = _read(delta(KEY, e1, e2, 1, 2), applied=1)
    with pytest.raises(feed.BaseMismatch):
        apply_bundle(tmp_path / "missing.idx", d)
    other = entries(random_hashes(10, 1))
    path = tmp_path / "other.idx"
    build_index(path, [_read(full(KEY, other))])  # version 1 with other content
    before = path.read_bytes()
    with pytest.raises(feed.BaseMismatch):
        apply_bundle(path, d)
    assert path.read_bytes() == before  # the old index stays
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_damaged_index_files(tmp_path: Path, v1: Path) -> None:
    bad = tmp_path / "bad.idx"
    for content in (b"", b"KAIDX", b"nonsense" * 100, v1.read_bytes()[:-10]):
        bad.write_bytes(content)
        with pytest.raises(index.IndexError_):
            BlocklistIndex.open(bad)
    with pytest.raises(index.IndexError_):
        BlocklistIndex.open(tmp_path / "none.idx")


def test_memory_per_entry_on_disk(tmp_path: Path) -> None:
    n = 200_000
    path = tmp_path / "big.idx"
    build_index(path, [_read(full(KEY, entries(random_hashes(n, 8))))])
    assert os.path.getsize(path) / n <= 9.0  # the memory target, with every page touched


def test_holder_swaps_while_readers_look_up(tmp_path: Path) -> None:
    path = index.index_path(tmp_path, "hotline")
    e1, e2 = _entries(LIST_V1), _entries(LIST_V2)
    build_index(path, [_read(full(KEY, e1))])
    holder = IndexHolder([BlocklistIndex.open(path)])
    assert holder.versions() == {"hotline": 1}
    seen: set[str | None] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(holder.lookup_host("evil.example"))
            holder.lookup_host("new.example")
            holder.suspect_host("www.pages.example")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    info = holder.update(path, _read(delta(KEY, e1, e2, 1, 2), applied=1))
    assert info.version == 2
    stop.set()
    for t in threads:
        t.join()
    assert seen == {"csam"}
    assert holder.versions() == {"hotline": 2}
    assert holder.lookup_host("new.example") == "csam"
    assert holder.lookup_url("http://forum.example/t/1") == "grooming"
    assert holder.suspect_host("forum.example")
    assert len(holder) == e2.total()
    holder.remove("hotline")
    assert holder.lookup_host("new.example") is None


def test_holder_over_several_lists(tmp_path: Path) -> None:
    build_index(tmp_path / "hotline.idx", [_read(full(KEY, _entries(LIST_V1)))])
    bypass = entries_from_sources(CATS[:1], {"csam": read_source(["doh.example"])})
    build_index(tmp_path / "bypass.idx", [_read(full(KEY, bypass, list_id="bypass"))])
    (tmp_path / "junk.idx").write_bytes(b"junk")
    holder = IndexHolder.open_dir(tmp_path)
    assert holder.versions() == {"bypass": 1, "hotline": 1}
    assert holder.lookup_host("doh.example") == "csam"
    assert holder.lookup_host("evil.example") == "csam"
    assert holder.lookup_host("fine.example") is None
    assert hash_int("doh.example/") in set(holder.indexes[0].array(1))


_SMALL = b""


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_damaged_files_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory, flips: list[tuple[int, int]]
) -> None:
    global _SMALL
    base = tmp_path_factory.getbasetemp() / "fuzz"
    base.mkdir(exist_ok=True)
    if not _SMALL:
        src = base / "small.idx"
        build_index(src, [_read(full(KEY, _entries(LIST_V1)))])
        _SMALL = src.read_bytes()
    data = bytearray(_SMALL)
    for pos, value in flips:
        data[pos % len(data)] = value
    path = base / "damaged.idx"
    path.write_bytes(bytes(data))
    try:
        idx = BlocklistIndex.open(path)
    except index.IndexError_:
        return
    with idx:
        idx.lookup_host("evil.example")
        idx.lookup_url("http://www.pages.example/a/b.html?x=1")
        idx.suspect_host("www.pages.example")
