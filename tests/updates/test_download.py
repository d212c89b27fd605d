"""Resumable downloads: what each answer to a ranged request means, and resuming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.updates import download

DATA = bytes(range(256)) * 40  # 10 240 bytes


class Answer:
    """A ``requests``-like streamed response; ``cut_after`` breaks the body mid-way."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str], cut_after: int | None):
        self.status_code = status
        self.headers = headers
        self.body = body
        self.cut_after = cut_after

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_content(self, size: int) -> Iterator[bytes]:
        sent = 0
        for i in range(0, len(self.body), 1000):
            if self.cut_after is not None and sent >= self.cut_after:
                raise ConnectionError("the link dropped")
            chunk = self.body[i : i + 1000]
            sent += len(chunk)
            yield chunk


class Server:
    """Serves DATA, honouring ``Range: bytes=N-`` unless ``ranges`` is False."""

    def __init__(self, *, ranges: bool = True, cut_after: int | None = None) -> None:
        self.ranges = ranges
        self.cut_after = cut_after
        self.requests: list[dict[str, str]] = []

    def __call__(self, url: str, headers: dict[str, str]) -> Any:
        self.requests.append(dict(headers))
        cut, self.cut_after = self.cut_after, None  # one cut, then the link is back
        start = int(headers["Range"][6:-1]) if "Range" in headers else 0
        if "Range" in headers and self.ranges:
            if start >= len(DATA):
                return Answer(416, b"", {"Content-Range": f"bytes */{len(DATA)}"}, None)
            rng = f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"
            return Answer(206, DATA[start:], {"Content-Range": rng}, cut)
        return Answer(200, DATA, {}, cut)


def test_a_cut_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    part = tmp_path / "r.part"
    server = Server(cut_after=4000)
    with pytest.raises(download.DownloadError, match="stopped"):
        download.download("https://x.test/r", part, 10**6, server)
    have = part.stat().st_size
    assert 0 < have < len(DATA)
    assert download.download("https://x.test/r", part, 10**6, server) == part
    assert part.read_bytes() == DATA
    assert server.requests == [{}, {"Range": f"bytes={have}-"}]
    # Asked again when whole: 416, nothing fetched, the file kept.
    assert download.download("https://x.test/r", part, 10**6, server).read_bytes() == DATA


def test_a_server_without_ranges_sends_it_all_again(tmp_path: Path) -> None:
    part = tmp_path / "r.part"
    part.write_bytes(DATA[:3000])
    download.download("https://x.test/r", part, 10**6, Server(ranges=False))
    assert part.read_bytes() == DATA


def test_too_large_is_refused_and_dropped(tmp_path: Path) -> None:
    part = tmp_path / "r.part"
    with pytest.raises(download.DownloadError, match="larger"):
        download.download("https://x.test/r", part, 5000, Server())
    assert not part.exists()


def test_unreachable(tmp_path: Path) -> None:
    def refuse(url: str, headers: dict[str, str]) -> Any:
        raise OSError("connection refused")

    with pytest.raises(download.DownloadError, match="cannot reach"):
        download.download("https://x.test/r", tmp_path / "p", 10, refuse)


def test_file_urls_are_copied(tmp_path: Path) -> None:
    source = tmp_path / "release-1.signed"
    source.write_bytes(DATA)
    got = download.download(source.as_uri(), tmp_path / "d" / "p.part", 10**6)
    assert got.read_bytes() == DATA


@pytest.mark.parametrize(
    ("have", "status", "content_range", "action"),
    [
        (0, 200, None, "restart"),
        (500, 200, None, "restart"),
        (500, 206, "bytes 500-999/1000", "append"),
        (500, 206, "bytes 400-999/1000", "error"),  # not the bytes asked for
        (500, 206, None, "error"),
        (500, 206, "bytes 500-999/*", "append"),
        (1000, 416, "bytes */1000", "complete"),
        (0, 416, None, "error"),
        (500, 404, None, "error"),
    ],
)
def test_plan_resume(have: int, status: int, content_range: str | None, action: str) -> None:
    assert download.plan_resume(have, status, content_range).action == action


@given(st.integers(0, 10**9), st.integers(100, 599), st.none() | st.text(max_size=40))
def test_plan_resume_never_dies_and_appends_only_at_the_end(
    have: int, status: int, content_range: str | None
) -> None:
    plan = download.plan_resume(have, status, content_range)
    assert plan.action in ("append", "restart", "complete", "error")
    if plan.action == "append":
        assert plan.offset == have and status == 206


def test_a_try_stops_at_its_deadline_and_the_next_goes_on(tmp_path: Path) -> None:
    part = tmp_path / "r.part"
    ticks = iter(range(1000))

    def clock() -> float:
        return float(next(ticks))

    with pytest.raises(download.DownloadPaused):
        download.download("https://x.test/r", part, 10**6, Server(), deadline=3.5, clock=clock)
    have = part.stat().st_size
    assert have == 4000 and part.read_bytes() == DATA[:have]
    download.download("https://x.test/r", part, 10**6, Server())
    assert part.read_bytes() == DATA


def test_an_answer_it_cannot_use_names_its_status(tmp_path: Path) -> None:
    """A café hub's 503 (it is fetching the release for the café) is told from a hub that
    cannot be reached: the kiosk waits for the first, goes to the server for the second."""

    def busy(url: str, headers: dict[str, str]) -> Any:
        return Answer(503, b"{}", {"Retry-After": "60"}, None)

    with pytest.raises(download.DownloadError) as raised:
        download.download("http://hub.test/r", tmp_path / "r.part", 10**6, busy)
    assert raised.value.status == 503
    assert not (tmp_path / "r.part").exists()

    def down(url: str, headers: dict[str, str]) -> Any:
        raise ConnectionRefusedError("no hub")

    with pytest.raises(download.DownloadError) as raised:
        download.download("http://hub.test/r", tmp_path / "r.part", 10**6, down)
    assert raised.value.status is None
