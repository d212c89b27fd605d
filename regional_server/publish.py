"""``publish-feed``: put signed bundles in the feeds folder and record the version.

Bundle headers are read with ``kiosk_agent.contracts.feed`` and the folder (manifest.json,
the newest full bundle, deltas to it) is maintained by
``kiosk_agent.contracts.manifest.publish``: one implementation of the feed directory layout
for a publisher's disk and this server (docs/contracts.md). ``/feeds/<list_id>/...``
then serves the files with ETags.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from kiosk_agent.contracts import feed, manifest
from regional_server.store.feeds import record_published


class PublishError(ValueError):
    """Bundles that cannot be published; the message says why."""


def publish_feed(
    engine: Engine,
    feeds_dir: Path,
    bundle_paths: Sequence[Path],
    now: int,
    trusted_keys: Sequence[str] | None = None,
) -> str:
    """Publish bundles (one full and/or deltas of one list); returns a summary line.

    With ``trusted_keys`` each bundle's signature is checked against them first, so a
    server never publishes a bundle its kiosks would refuse.
    """
    blobs: list[bytes] = []
    list_ids: set[str] = set()
    for path in bundle_paths:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise PublishError(f"cannot read {path}: {e.strerror}") from None
        try:
            list_ids.add(feed.read_header(data).list_id)
        except feed.FeedError as e:
            raise PublishError(f"{path} is not a feed bundle: {e}") from None
        blobs.append(data)
    if len(list_ids) != 1:
        raise PublishError(f"bundles of one list at a time, not {', '.join(sorted(list_ids))}")
    list_id = list_ids.pop()
    folder = feeds_dir / list_id
    try:
        result = manifest.publish(folder, blobs, trusted_keys=trusted_keys)
    except (manifest.PublishError, manifest.ManifestError, feed.FeedError) as e:
        raise PublishError(str(e)) from None
    with engine.begin() as conn:
        record_published(conn, result.list_id, result.latest, now)
    deltas = ", ".join(f"{b}->{result.latest}" for b in sorted(result.deltas)) or "none"
    return (
        f"published {result.list_id} version {result.latest} in {folder} "
        f"(full: {result.full}; deltas: {deltas})"
    )
