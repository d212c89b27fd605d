"""publish-feed: bundles into the feed folder (manifest + deltas), served with ETags."""

from __future__ import annotations

import subprocess
import sys
import time
from array import array
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kiosk_agent.contracts.feed import Category, FeedEntries, encode_full, public_key_string
from regional_server.publish import PublishError, publish_feed
from regional_server.settings import Settings
from regional_server.store.feeds import published_versions
from tests.conftest import REPO_ROOT, cli_env

KEY = Ed25519PrivateKey.generate()
PUB = public_key_string(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _bundle(tmp: Path, version: int, list_id: str = "hotline") -> Path:
    now = int(time.time())
    data = encode_full(
        FeedEntries((Category(1, "csam", "Child abuse material"),), {1: array("Q", [5, 9, 77])}),
        key=KEY,
        issuer="DEMO hotline",
        list_id=list_id,
        version=version,
        created=now,
        expires=now + 86400,
    )
    path = tmp / f"{list_id}-{version}.bundle"
    path.write_bytes(data)
    return path


def test_publish_then_serve(
    client: TestClient, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    summary = publish_feed(engine, settings.feeds_path, [_bundle(tmp_path, 3)], 1, [PUB])
    assert "hotline version 3" in summary
    r = client.get("/feeds/hotline/manifest.json")
    assert r.status_code == 200 and r.json()["latest"] == 3
    full = r.json()["full"]
    b = client.get(f"/feeds/hotline/{full}")
    assert b.content == (tmp_path / "hotline-3.bundle").read_bytes()
    with engine.connect() as conn:
        assert published_versions(conn) == {"hotline": 3}
    # Rollback and untrusted keys are refused.
    with pytest.raises(PublishError, match="not newer"):
        publish_feed(engine, settings.feeds_path, [_bundle(tmp_path, 2)], 1)
    other = "ed25519:" + "A" * 43 + "="
    with pytest.raises(PublishError):
        publish_feed(engine, settings.feeds_path, [_bundle(tmp_path, 4)], 1, [other])
    publish_feed(engine, settings.feeds_path, [_bundle(tmp_path, 4)], 1)
    with engine.connect() as conn:
        assert published_versions(conn) == {"hotline": 4}


def test_not_a_bundle(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "x.bundle"
    junk.write_bytes(b"not a bundle")
    with pytest.raises(PublishError, match="not a feed bundle"):
        publish_feed(engine, settings.feeds_path, [junk], 1)


def test_cli_publish_feed(tmp_path: Path) -> None:
    env = cli_env()
    env["KIOSK_SERVER_DATA"] = str(tmp_path / "data")
    env.pop("KIOSK_SERVER_DB", None)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "regional_server",
            "publish-feed",
            str(_bundle(tmp_path, 1)),
            "--trust",
            PUB,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "feeds" / "hotline" / "manifest.json").is_file()
