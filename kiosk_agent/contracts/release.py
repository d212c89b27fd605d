"""Program releases as signed files: the one-file program is the body (docs/fleet.md).

A release is a signed file of kind ``release`` and subject ``release`` whose body is the
one-file program itself, so its size and SHA-256 are in the signed header and one
verifier (``signed.read_signed``) checks the signature, the bytes, the expiry and the
order. ``meta`` carries the program's version text (``program_version``) for people.

The signed version is the program version as a number (``version_number``): a release
is never older than the program running, because the same rule (``rollback``) that
refuses an older content pack refuses it, with no second ordering to keep in step.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kiosk_agent.contracts import signed

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KIND = "release"
SUBJECT = "release"
DIRECTORY = "releases"
"""The directory under the feed root (``/feeds/releases/``), mirrored like ``content``."""

_PROGRAM_VERSION = re.compile(r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\Z")
_PART = 10**6


class VersionError(ValueError):
    """A program version that is not MAJOR.MINOR.PATCH (each below a million)."""


def version_number(text: str) -> int:
    """``1.2.3`` as 1_000002_000003: the order of program versions as one integer.

    Only plain ``MAJOR.MINOR.PATCH`` releases are published (a pre-release has no place
    in a rollout that only moves forward)."""
    m = _PROGRAM_VERSION.match(text)
    if m is None:
        raise VersionError(f"{text!r} is not a program version like 1.2.3")
    major, minor, patch = (int(g) for g in m.groups())
    return (major * _PART + minor) * _PART + patch


def version_text(number: int) -> str:
    """The inverse of ``version_number``."""
    if not 0 <= number < _PART**3:
        raise VersionError(f"{number} is not a program version number")
    return f"{number // _PART**2}.{number // _PART % _PART}.{number % _PART}"


def running_number(text: str) -> int | None:
    """The running program's version as a number, or None (a development version)."""
    try:
        return version_number(text)
    except VersionError:
        return None


def encode_release(
    *,
    key: Ed25519PrivateKey,
    program: bytes,
    program_version: str,
    issuer: str,
    created: int,
    expires: int,
) -> bytes:
    """Sign ``program`` as the release of ``program_version``."""
    return signed.encode_signed(
        key=key,
        kind=KIND,
        issuer=issuer,
        subject=SUBJECT,
        version=version_number(program_version),
        created=created,
        expires=expires,
        body=program,
        meta={"program_version": program_version, "size": len(program)},
    )


def read_release(
    data: bytes, trusted_keys: frozenset[str], *, floor: int | None, now: float
) -> signed.SignedFile:
    """Verify a release: key, signature, SHA-256, expiry, and newer than ``floor`` (the
    program running or the release applied). ``signed.SignedError`` otherwise."""
    f = signed.read_signed(
        data, trusted_keys, kind=KIND, subject=SUBJECT, applied_version=floor, now=now
    )
    shown = f.meta.get("program_version")
    if shown != version_text(f.claims.version):
        raise signed.Invalid("meta.program_version does not match the signed version")
    return f
