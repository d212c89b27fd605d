"""``publish-content``, ``publish-settings``, ``publish-keys``, ``publish-release``,
``promote``: signed files (content packs, settings overlays, key announcements, program
releases) put where kiosks read them.

Each kind has one directory under the feeds folder, served by ``/feeds/<dir>/<file>``
like feed bundles: ``content/``, ``keys/``, ``releases/``, and ``<subject>/`` for a settings overlay
(``settings-<REGION>``, one per region). The directory layout and staged rollout are
``kiosk_agent.contracts.signed_dir`` (one implementation for a publisher's disk and this
server, docs/fleet.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kiosk_agent.contracts import signed, signed_dir

KIND_DIRS = {"content": "content", "keys": "keys", "release": "releases"}


class PublishError(ValueError):
    """A file that cannot be published; the message says why."""


def directory_for(feeds_dir: Path, claims: signed.Claims) -> Path:
    if claims.kind in KIND_DIRS:
        return feeds_dir / KIND_DIRS[claims.kind]
    if claims.kind == "settings" and claims.subject.startswith("settings-"):
        return feeds_dir / claims.subject
    raise PublishError(f"cannot publish a {claims.kind} file for {claims.subject!r} here")


def publish_signed(
    feeds_dir: Path,
    path: Path,
    *,
    kind: str,
    trusted_keys: Sequence[str] | None = None,
    percent: int | None = None,
    cafes: Sequence[str] = (),
) -> str:
    """Publish one signed file of ``kind``; returns a summary line."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PublishError(f"cannot read {path}: {e.strerror}") from None
    try:
        head = signed.read_signed_header(data)
    except signed.SignedError as e:
        raise PublishError(f"{path} is not a signed file: {e}") from None
    if head.claims.kind != kind:
        raise PublishError(f"{path} is a {head.claims.kind} file, not {kind}")
    folder = directory_for(feeds_dir, head.claims)
    try:
        m = signed_dir.publish(
            folder, data, trusted_keys=trusted_keys, percent=percent, cafes=cafes
        )
    except (signed.SignedError, signed_dir.ManifestError) as e:
        raise PublishError(str(e)) from None
    return _describe(m, folder)


def promote(feeds_dir: Path, name: str) -> str:
    """End the staged rollout in ``feeds_dir/name``: every kiosk takes the latest."""
    folder = feeds_dir / name
    if name not in ("content", "keys", "releases") and not name.startswith("settings-"):
        raise PublishError(
            f"{name!r} is not a content, keys, releases or settings-<REGION> directory"
        )
    try:
        return _describe(signed_dir.promote(folder), folder)
    except signed_dir.ManifestError as e:
        raise PublishError(str(e)) from None


def _describe(m: signed_dir.Manifest, folder: Path) -> str:
    def show(version: int) -> str:
        if m.kind != "release":
            return str(version)
        from kiosk_agent.contracts.release import version_text

        return version_text(version)  # a release's version is the program's (1.2.3)

    staged = ""
    if m.rollout is not None:
        who = [f"{m.rollout.percent} % of kiosks", *(f"café {c!r}" for c in m.rollout.cafes)]
        staged = f"; staged for {' and '.join(who)}, others stay on {show(m.rollout.stable)}"
    return f"published {m.kind} {m.subject} version {show(m.latest)} in {folder}{staged}"


def sign_release(
    program: Path, program_version: str, key_path: Path, *, expires_in: int, now: int
) -> bytes:
    """The one-file ``program`` signed as the release of ``program_version``."""
    from kiosk_agent.contracts import release
    from kiosk_agent.contracts.private_key import load_private_key

    try:
        data = program.read_bytes()
    except OSError as e:
        raise PublishError(f"cannot read {program}: {e.strerror}") from None
    if data.startswith(signed.MAGIC):
        raise PublishError(f"{program} is already signed: publish it without --key")
    try:
        return release.encode_release(
            key=load_private_key(key_path),
            program=data,
            program_version=program_version,
            issuer="kiosk-server publish-release",
            created=now,
            expires=now + expires_in,
        )
    except (release.VersionError, signed.SignedError) as e:
        raise PublishError(str(e)) from None
