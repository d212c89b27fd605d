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
