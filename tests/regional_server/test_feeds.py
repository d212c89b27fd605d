"""GET /feeds/{list_id}/{file}: static files with ETag and 304, nothing outside."""

from __future__ import annotations

from fastapi.testclient import TestClient

from regional_server.settings import Settings


def test_feed_files_with_etag_and_304(client: TestClient, settings: Settings) -> None:
    folder = settings.feeds_path / "hotline"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"list_id": "hotline", "latest": 3}')
    (folder / "full-3.bundle").write_bytes(b"\x00bundle-bytes")
    r = client.get("/feeds/hotline/manifest.json")
    assert r.status_code == 200 and r.json()["latest"] == 3
    etag = r.headers["etag"]
    assert r.headers["cache-control"] == "no-cache" and "date" in r.headers
    again = client.get("/feeds/hotline/manifest.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    b = client.get("/feeds/hotline/full-3.bundle")
    assert b.content == b"\x00bundle-bytes" and "immutable" in b.headers["cache-control"]
    assert client.head("/feeds/hotline/full-3.bundle").headers["content-length"] == "13"
    (folder / "manifest.json").write_text('{"list_id": "hotline", "latest": 4}')
    changed = client.get("/feeds/hotline/manifest.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_nothing_outside_the_feeds_folder(client: TestClient, settings: Settings) -> None:
    settings.feeds_path.mkdir(parents=True)
    (settings.data_dir / "secret.txt").write_text("no")
    for path in (
        "/feeds/hotline/missing.bundle",
        "/feeds/../secret.txt",
        "/feeds/..%2F/secret.txt",
        "/feeds/hotline/..%2F..%2Fsecret.txt",
        "/feeds/.hidden/x",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.text != "no"


def test_signed_files_resume_with_range(client: TestClient, settings: Settings) -> None:
    """A program release (~25 MB) cut on a slow link resumes where it stopped (206)."""
    folder = settings.feeds_path / "releases"
    folder.mkdir(parents=True)
    data = bytes(range(256)) * 64
    (folder / "release-7.signed").write_bytes(data)
    whole = client.get("/feeds/releases/release-7.signed")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    part = client.get("/feeds/releases/release-7.signed", headers={"Range": "bytes=1000-"})
    assert part.status_code == 206 and part.content == data[1000:]
    assert part.headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    assert part.headers["etag"] == etag  # our content ETag, not Starlette's own
    past = client.get("/feeds/releases/release-7.signed", headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416
    cached = client.get("/feeds/releases/release-7.signed", headers={"If-None-Match": etag})
    assert cached.status_code == 304
