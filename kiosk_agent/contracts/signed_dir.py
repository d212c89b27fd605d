"""A directory of signed files on a server or disk (content packs, settings, key announcements).

Like a feed directory (``contracts/manifest.py``), it holds an unsigned ``manifest.json``
and the files it names::

    {"kind": "content", "subject": "content", "latest": 7,
     "files": {"6": "content-6.signed", "7": "content-7.signed"},
     "rollout": {"stable": 6, "percent": 10, "cafes": ["Sunrise Net Café"]}}

Every file is verified before use, so the manifest need not be signed: a hostile server
can only withhold a version, never make a kiosk accept one. ``rollout`` (optional) stages
``latest``: kiosks in the stage (``in_stage``: a deterministic share of kiosk ids, or a
named café) take ``latest``, the others ``stable``. Key announcements are applied in
order, so a kiosk fetches every listed version above the one it holds (``to_fetch``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_atomic
from kiosk_agent.contracts import signed

MANIFEST = "manifest.json"
MAX_MANIFEST = 64 * 1024
MAX_FILES = 200
_FILE = re.compile(r"^(content|settings|keys|release)-(\d{1,19})\.signed\Z")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_MAX_VERSION = (1 << 63) - 1


class ManifestError(ValueError):
    """A manifest that is not in the documented shape, or a publication that cannot be."""


@dataclass(frozen=True)
class Rollout:
    """``latest`` goes to ``percent`` % of kiosks and to the ``cafes`` named; the rest
    stay on ``stable``."""

    stable: int
    percent: int = 0
    cafes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    kind: str
    subject: str
    latest: int
    files: Mapping[int, str] = field(default_factory=dict)
    rollout: Rollout | None = None


def settings_subject(region: str) -> str:
    """``settings-<REGION>``: the subject and directory of a region's settings overlay."""
    token = "".join(c if c.isalnum() or c in "._-" else "_" for c in region)[:54]
    return f"settings-{token}"


def cafe_settings_subject(region: str, cafe: str) -> str:
    """``settings-<REGION>--<café>``: a café's own overlay, laid over its region's (the café
    as a token of its name: lowercase letters and digits, ``-`` for the rest)."""
    region_token = settings_subject(region)[len("settings-") :][:24]
    cafe_token = re.sub(r"[^a-z0-9]+", "-", cafe.lower()).strip("-")[:28] or "cafe"
    return f"settings-{region_token}--{cafe_token}"


def latest_for(directory: Path, kiosk_id: str | None, cafe: str | None) -> bytes | None:
    """The signed file a kiosk should hold from ``directory`` (staging applied), or None."""
    try:
        m = read_manifest(directory)
        if m is None:
            return None
        return (directory / m.files[target_version(m, kiosk_id, cafe)]).read_bytes()
    except (ManifestError, OSError, KeyError):
        return None


def file_name(kind: str, version: int) -> str:
    return f"{kind}-{version}.signed"


def manifest_bytes(m: Manifest) -> bytes:
    obj: dict[str, Any] = {
        "kind": m.kind,
        "subject": m.subject,
        "latest": m.latest,
        "files": {str(v): n for v, n in sorted(m.files.items())},
    }
    if m.rollout is not None:
        obj["rollout"] = {
            "stable": m.rollout.stable,
            "percent": m.rollout.percent,
            "cafes": list(m.rollout.cafes),
        }
    return (json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise ManifestError(what)


def _version(value: object) -> int:
    _need(
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MAX_VERSION,
        "bad version",
    )
    assert isinstance(value, int)
    return value


def parse_manifest(data: bytes) -> Manifest:
    """Parse and check a manifest; file names only as ``<kind>-<version>.signed``."""
    _need(len(data) <= MAX_MANIFEST, "manifest too large")
    try:
        obj: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ManifestError("manifest is not JSON") from None
    _need(isinstance(obj, dict), "manifest is not a JSON object")
    _need(set(obj) <= {"kind", "subject", "latest", "files", "rollout"}, "unknown field")
    kind, subject = obj.get("kind"), obj.get("subject")
    _need(kind in signed.KINDS and kind != "feed", "bad kind")
    _need(isinstance(subject, str) and bool(_TOKEN.match(subject)), "bad subject")
    latest = _version(obj.get("latest"))
    raw_files = obj.get("files")
    _need(isinstance(raw_files, dict) and 1 <= len(raw_files) <= MAX_FILES, "bad files")
    files: dict[int, str] = {}
    for v, name in raw_files.items():
        _need(isinstance(v, str) and v.isdigit() and len(v) <= 19, "bad file version")
        version = _version(int(v))
        _need(version <= latest, "a file newer than latest")
        _need(name == file_name(str(kind), version), "file must be <kind>-<version>.signed")
        files[version] = name
    _need(latest in files, "latest is not listed")
    rollout = None
    raw = obj.get("rollout")
    if raw is not None:
        _need(isinstance(raw, dict) and set(raw) <= {"stable", "percent", "cafes"}, "bad rollout")
        stable = _version(raw.get("stable"))
        _need(stable in files and stable < latest, "rollout.stable must be an older listed file")
        percent = raw.get("percent", 0)
        _need(
            isinstance(percent, int) and not isinstance(percent, bool) and 0 <= percent <= 100,
            "rollout.percent must be 0-100",
        )
        cafes = raw.get("cafes", [])
        _need(
            isinstance(cafes, list)
            and len(cafes) <= 1000
            and all(isinstance(c, str) and 0 < len(c) <= 200 for c in cafes),
            "rollout.cafes must be a list of café names",
        )
        rollout = Rollout(stable, percent, tuple(cafes))
    return Manifest(str(kind), str(subject), latest, files, rollout)


def stage_bucket(kiosk_id: str, kind: str, version: int) -> int:
    """0-99, fixed per kiosk and release: a staged share of P % takes kiosks below P.

    The version is in the hash so each rollout starts with a different share of kiosks
    (the same few PCs are not always the first to take a new pack)."""
    digest = hashlib.sha256(f"{kind}:{version}:{kiosk_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def in_stage(m: Manifest, kiosk_id: str | None, cafe: str | None) -> bool:
    """Whether this kiosk takes ``latest`` while it is staged."""
    if m.rollout is None:
        return True
    if cafe is not None and cafe in m.rollout.cafes:
        return True
    if kiosk_id is None:
        return False  # not enrolled: wait for the version everyone gets
    return stage_bucket(kiosk_id, m.kind, m.latest) < m.rollout.percent


def target_version(m: Manifest, kiosk_id: str | None, cafe: str | None) -> int:
    """The version this kiosk should hold."""
    if m.rollout is None or in_stage(m, kiosk_id, cafe):
        return m.latest
    return m.rollout.stable


def to_fetch(
    m: Manifest, applied: int | None, kiosk_id: str | None, cafe: str | None, *, chain: bool
) -> list[str]:
    """File names to fetch, oldest first: the target only, or (``chain``, for key
    announcements) every listed version above ``applied`` up to the target."""
    target = target_version(m, kiosk_id, cafe)
    if applied is not None and applied >= target:
        return []
    if not chain:
        return [m.files[target]]
    return [m.files[v] for v in sorted(m.files) if (applied is None or v > applied) and v <= target]


def read_manifest(directory: Path) -> Manifest | None:
    try:
        return parse_manifest((directory / MANIFEST).read_bytes())
    except FileNotFoundError:
        return None


def publish(
    directory: Path,
    data: bytes,
    *,
    trusted_keys: Sequence[str] | None = None,
    percent: int | None = None,
    cafes: Sequence[str] = (),
    keep: int = 10,
) -> Manifest:
    """Add one signed file as the new latest. With ``percent``/``cafes`` it is staged (the
    previous latest stays ``stable``); the file goes first, the manifest last, both atomic.
    Key announcements are all kept (kiosks need the whole chain); other kinds keep ``keep``.
    """
    head = signed.read_signed_header(data)
    if trusted_keys is not None:
        signed.read_signed(data, trusted_keys, kind=head.claims.kind, now=head.claims.created)
    claims = head.claims
    if claims.kind == "feed":
        raise ManifestError("feed bundles go to a feed directory (publish-feed)")
    current = read_manifest(directory)
    if current is not None:
        if (current.kind, current.subject) != (claims.kind, claims.subject):
            raise ManifestError(
                f"this directory holds {current.kind} {current.subject}, "
                f"not {claims.kind} {claims.subject}"
            )
        if claims.version <= current.latest:
            raise ManifestError(f"version {claims.version} is not newer than {current.latest}")
    files = dict(current.files) if current else {}
    staged = percent is not None or bool(cafes)
    rollout = None
    if staged:
        if current is None:
            raise ManifestError("the first publication goes to every kiosk (nothing to stage from)")
        # Staging again before the last stage finished: the kiosks not in it stay on the
        # version everyone had, never on a version that was itself only staged.
        stable = current.rollout.stable if current.rollout else current.latest
        rollout = Rollout(stable, percent or 0, tuple(cafes))
    name = file_name(claims.kind, claims.version)
    files[claims.version] = name
    if claims.kind != "keys":
        pinned = {claims.version} | ({rollout.stable} if rollout else set())
        for v in sorted(files)[:-keep]:
            if v not in pinned:
                files.pop(v)
    m = Manifest(claims.kind, claims.subject, claims.version, files, rollout)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / name, data)
    write_atomic(directory / MANIFEST, manifest_bytes(m))
    for p in directory.glob("*.signed"):
        if _FILE.match(p.name) and p.name not in files.values():
            with contextlib.suppress(OSError):
                p.unlink()
    return m


def promote(directory: Path) -> Manifest:
    """End a staged rollout: every kiosk takes ``latest``."""
    current = read_manifest(directory)
    if current is None:
        raise ManifestError(f"nothing is published in {directory}")
    m = Manifest(current.kind, current.subject, current.latest, current.files, None)
    write_atomic(directory / MANIFEST, manifest_bytes(m))
    return m
