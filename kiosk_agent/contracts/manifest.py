"""The feed directory: ``manifest.json``, the newest full bundle and deltas to it.

A feed URL names a directory holding::

    manifest.json               {"list_id", "latest": N, "full": "full-N.bundle",
                                 "deltas": {"<base>": "delta-<base>-N.bundle"}}
    full-N.bundle               the newest whole list
    delta-B-N.bundle            from version B to N, for recent bases B

A kiosk fetches the delta from its applied version when one is listed, else the full
bundle (``choose_file``). The manifest is not signed and need not be: every bundle is
verified before it is applied. ``publish`` adds a new version to a directory so that a
reader always sees a manifest whose files exist.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_atomic
from kiosk_agent.contracts import feed

__all__ = [
    "MANIFEST",
    "Manifest",
    "ManifestError",
    "PublishError",
    "choose_file",
    "delta_name",
    "full_name",
    "manifest_bytes",
    "parse_manifest",
    "publish",
    "read_manifest",
]

MANIFEST = "manifest.json"
MAX_MANIFEST = 64 * 1024
_LIST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_FILE = re.compile(r"^(?:full-\d{1,19}|delta-\d{1,19}-\d{1,19})\.bundle\Z")
_MAX_VERSION = (1 << 63) - 1


class ManifestError(ValueError):
    """A manifest that is not in the documented shape."""


class PublishError(ValueError):
    """Bundles that cannot be published together (wrong list, old version, bad delta)."""


def full_name(version: int) -> str:
    return f"full-{version}.bundle"


def delta_name(base: int, version: int) -> str:
    return f"delta-{base}-{version}.bundle"


@dataclass(frozen=True)
class Manifest:
    """The newest version of a list and the files that lead to it."""

    list_id: str
    latest: int
    full: str
    deltas: Mapping[int, str] = field(default_factory=dict)

    def files(self) -> list[str]:
        return [self.full, *self.deltas.values()]


def manifest_bytes(m: Manifest) -> bytes:
    """The JSON of a manifest (stable key order, so equal manifests give equal ETags)."""
    obj = {
        "list_id": m.list_id,
        "latest": m.latest,
        "full": m.full,
        "deltas": {str(b): name for b, name in sorted(m.deltas.items())},
    }
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise ManifestError(what)


def parse_manifest(data: bytes) -> Manifest:
    """Parse and check a manifest; raises ``ManifestError`` for anything else.

    File names must be ``full-N.bundle`` / ``delta-B-N.bundle`` (never a path), so a
    hostile server cannot point a kiosk outside the feed directory.
    """
    _need(len(data) <= MAX_MANIFEST, "manifest too large")
    try:
        obj: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ManifestError("manifest is not JSON") from None
    _need(isinstance(obj, dict), "manifest is not a JSON object")
    list_id, latest, full, deltas = (obj.get(k) for k in ("list_id", "latest", "full", "deltas"))
    _need(isinstance(list_id, str) and bool(_LIST_ID.match(list_id)), "bad list_id")
    _need(
        isinstance(latest, int) and not isinstance(latest, bool) and 1 <= latest <= _MAX_VERSION,
        "bad latest version",
    )
    _need(full == full_name(latest), "full must be full-<latest>.bundle")
    if deltas is None:
        deltas = {}
    _need(isinstance(deltas, dict) and len(deltas) <= 1000, "deltas must be an object")
    out: dict[int, str] = {}
    for base, name in deltas.items():
        _need(isinstance(base, str) and base.isdigit() and len(base) <= 19, "bad delta base")
        b = int(base)
        _need(b < latest, "a delta base must be older than latest")
        _need(name == delta_name(b, latest), "delta must be delta-<base>-<latest>.bundle")
        out[b] = name
    return Manifest(list_id, latest, full, out)


def choose_file(m: Manifest, applied_version: int | None) -> str | None:
    """The file a kiosk at ``applied_version`` fetches next: None when up to date, the
    delta from its version when listed, else the full bundle."""
    if applied_version is not None and applied_version >= m.latest:
        return None
    if applied_version is not None and applied_version in m.deltas:
        return m.deltas[applied_version]
    return m.full


def read_manifest(directory: Path | str) -> Manifest | None:
    """The manifest of a feed directory, or None when there is none yet."""
    path = Path(directory) / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_manifest(data)


def publish(
    directory: Path | str,
    bundles: Iterable[bytes],
    *,
    trusted_keys: Sequence[str] | None = None,
    keep_deltas: int = 30,
) -> Manifest:
    """Add bundles to a feed directory: at most one full bundle (the new latest) and deltas
    to the latest version. Bundle files are written first, the manifest last (each
    atomically), then files the manifest no longer names are removed.

    With ``trusted_keys`` every bundle's signature is verified too. Raises
    ``PublishError`` or ``feed.FeedError``.
    """
    target = Path(directory)
    current = read_manifest(target)
    headers: list[tuple[feed.BundleHeader, bytes]] = []
    for data in bundles:
        if trusted_keys is not None:
            header = feed.verify_signature(data, trusted_keys)
        else:
            header = feed.read_header(data)
        headers.append((header, data))
    fulls = [h for h in headers if not h[0].is_delta]
    if len(fulls) > 1:
        raise PublishError("give at most one full bundle")
    if not headers:
        raise PublishError("no bundles to publish")
    list_ids = {h.list_id for h, _ in headers} | ({current.list_id} if current else set())
    if len(list_ids) != 1:
        raise PublishError(f"bundles for different lists: {', '.join(sorted(list_ids))}")
    list_id = list_ids.pop()
    if fulls:
        latest = fulls[0][0].version
        if current and latest <= current.latest:
            raise PublishError(f"version {latest} is not newer than published {current.latest}")
        full_file = full_name(latest)
        old_deltas: dict[int, str] = {}
    elif current:
        latest, full_file, old_deltas = current.latest, current.full, dict(current.deltas)
    else:
        raise PublishError("the first publication needs a full bundle")
    new_deltas = dict(old_deltas)
    to_write: dict[str, bytes] = {}
    for header, data in headers:
        if header.is_delta:
            assert header.base_version is not None
            if header.version != latest:
                raise PublishError(
                    f"delta {header.base_version}->{header.version} does not lead to {latest}"
                )
            name = delta_name(header.base_version, latest)
            new_deltas[header.base_version] = name
        else:
            name = full_file
        to_write[name] = data
    for base in sorted(new_deltas)[:-keep_deltas] if keep_deltas else sorted(new_deltas):
        new_deltas.pop(base)
        to_write.pop(delta_name(base, latest), None)
    manifest = Manifest(list_id, latest, full_file, new_deltas)
    target.mkdir(parents=True, exist_ok=True)
    for name, data in to_write.items():
        write_atomic(target / name, data)
    write_atomic(target / MANIFEST, manifest_bytes(manifest))
    keep = set(manifest.files())
    for p in target.glob("*.bundle"):
        if _FILE.match(p.name) and p.name not in keep:
            with contextlib.suppress(OSError):
                p.unlink()
    return manifest
