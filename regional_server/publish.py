"""``publish-feed``: put a signed bundle in the feeds folder and record its version.

The bundle header is read with ``kiosk_agent.filter.feed.read_header`` and the folder
(manifest.json, the newest full bundle, deltas) is maintained by
``kiosk_agent.filter.manifest.publish``: one implementation of the feed directory
layout for the publisher's disk and this server (docs/contracts.md).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from regional_server.store.feeds import record_published


class PublishError(ValueError):
    """A bundle that cannot be published; the message says why."""


def _feed_modules() -> tuple[Any, Any]:
    try:
        feed = importlib.import_module("kiosk_agent.filter.feed")
        manifest = importlib.import_module("kiosk_agent.filter.manifest")
    except ImportError:
        raise PublishError(
            "this build has no feed bundle support (kiosk_agent.filter.feed/manifest)"
        ) from None
    return feed, manifest


def publish_feed(engine: Engine, feeds_dir: Path, bundle_path: Path, now: int) -> str:
    """Publish ``bundle_path`` under ``feeds_dir/<list_id>/``; returns a summary line."""
    try:
        data = bundle_path.read_bytes()
    except OSError as e:
        raise PublishError(f"cannot read {bundle_path}: {e.strerror}") from None
    feed, manifest = _feed_modules()
    try:
        header = feed.read_header(data)
    except ValueError as e:
        raise PublishError(f"{bundle_path} is not a feed bundle: {e}") from None
    list_dir = feeds_dir / header.list_id
    list_dir.mkdir(parents=True, exist_ok=True)
    try:
        manifest.publish(list_dir, [data])
    except ValueError as e:
        raise PublishError(str(e)) from None
    with engine.begin() as conn:
        record_published(conn, header.list_id, int(header.version), now)
    kind = "full" if header.base_version is None else f"delta from {header.base_version}"
    return f"published {header.list_id} version {header.version} ({kind}) in {list_dir}"
