"""The one verifier for every signed thing a kiosk accepts, and the generic signed file.

Feed bundles, content packs, settings overlays, key announcements (and later program
releases) all name their ``kind``, ``issuer``, signing ``key``, ``subject`` (what stream
of versions they belong to: a list id, ``content``, a region's settings), a ``version``
that only grows, ``created`` and ``expires``. They are checked here, in one order:
the signing key is trusted (``untrusted_key``), the Ed25519 signature matches
(``bad_signature``), the clock (corrected from the server's ``Date``) is before
``expires`` (``expired``), and the version is newer than the applied one
(``rollback``). A kind's own validation after that raises ``Invalid`` (``invalid``) or
a subclass with its own code.

Feed bundles keep their own layout (``KAFEED``, kiosks in the field read it;
``contracts/feed.py``) and use these checks through ``check_signed``. Everything else is
a *signed file*::

    magic  b"KASIGN" + format u16 (1)            8 bytes
    header length, u32 big-endian                4 bytes
    header: UTF-8 JSON, sorted keys              kind, issuer, key, subject, version,
                                                 created, expires, meta, body {length, sha256}
    Ed25519 signature over the 12 + header bytes above            64 bytes
    body: the kind's payload (bytes, its meaning given by the kind)

docs/signed-files.md has the reasons.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "KINDS",
    "BadFormat",
    "BadSignature",
    "Claims",
    "Expired",
    "Invalid",
    "Rollback",
    "SignedError",
    "SignedFile",
    "Truncated",
    "UntrustedKey",
    "WrongKind",
    "check_fresh",
    "check_signed",
    "encode_signed",
    "public_key_string",
    "read_signed",
    "read_signed_header",
    "verify_ed25519",
]

MAGIC = b"KASIGN"
FORMAT = 1
PREFIX = struct.Struct(">6sHI")  # magic, format, header length
SIG_LEN = 64
MAX_HEADER = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
KINDS = ("feed", "content", "settings", "keys", "release")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_KEY = re.compile(r"^ed25519:[A-Za-z0-9+/]{43}=\Z")
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_MAX_INT = (1 << 63) - 1


# -- refusals --------------------------------------------------------------------------


class SignedError(Exception):
    """A signed thing was refused. ``code`` names the reason for counters and logs
    (``<kind>.rejected.<code>``)."""

    code = "bad_format"


class BadFormat(SignedError):
    """Not in the documented layout, or a field outside what the format allows."""

    code = "bad_format"


class Truncated(SignedError):
    """The data ends before its lengths say it should."""

    code = "truncated"


class BadSignature(SignedError):
    """The signature does not match the header, or the body does not match the header."""

    code = "bad_signature"


class UntrustedKey(SignedError):
    """Signed with a key the kiosk does not trust (pinned or reached by announcement)."""

    code = "untrusted_key"


class Rollback(SignedError):
    """The version is not newer than the version already applied."""

    code = "rollback"


class Expired(SignedError):
    """The expiry time has passed, judged by the (corrected) clock given."""

    code = "expired"


class WrongKind(SignedError):
    """A signed file of another kind (or for another subject) than the one expected."""

    code = "wrong_kind"


class Invalid(SignedError):
    """Signed correctly but its content fails the kind's validation."""

    code = "invalid"


class NoGlyphs(Invalid):
    """A content pack that passes the text checks but has characters the kiosk's bundled
    fonts cannot draw (they would show as empty boxes): refused on the kiosk."""

    code = "fonts"


# -- the checks every kind shares ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claims:
    """What every signed thing says about itself. Times are Unix seconds (UTC)."""

    kind: str
    issuer: str
    key: str
    subject: str
    version: int
    created: int
    expires: int


def public_key_string(raw: bytes) -> str:
    """``ed25519:<base64>`` for a raw 32-byte public key."""
    return "ed25519:" + base64.b64encode(raw).decode("ascii")


def verify_ed25519(key: str, message: bytes, signature: bytes) -> None:
    """Raise ``BadSignature`` unless ``signature`` is ``key``'s over ``message``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not _KEY.match(key):
        raise BadFormat("a key must look like ed25519:BASE64")
    pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(key.split(":", 1)[1]))
    try:
        pub.verify(signature, message)
    except InvalidSignature:
        raise BadSignature("signature does not match") from None


def check_signed(
    claims: Claims, message: bytes, signature: bytes, trusted_keys: Iterable[str]
) -> None:
    """The key is trusted, then the signature over ``message`` is the key's."""
    if claims.key not in set(trusted_keys):
        raise UntrustedKey(f"signed by {claims.key}, which is not trusted")
    verify_ed25519(claims.key, message, signature)


def check_fresh(claims: Claims, *, applied_version: int | None, now: float | None) -> None:
    """Not expired by ``now`` (pass the corrected clock), newer than ``applied_version``."""
    clock = time.time() if now is None else now
    if clock >= claims.expires:
        raise Expired(f"expired at {claims.expires}, clock says {int(clock)}")
    if applied_version is not None and claims.version <= applied_version:
        raise Rollback(f"version {claims.version} is not newer than {applied_version}")


# -- the generic signed file ----------------------------------------------------------


@dataclass(frozen=True)
class SignedFile:
    """A parsed signed file (verified when it came from ``read_signed``)."""

    claims: Claims
    meta: Mapping[str, Any]
    body: bytes = field(repr=False)


def need(cond: bool, what: str) -> None:
    """Raise ``BadFormat(what)`` unless ``cond``."""
    if not cond:
        raise BadFormat(what)


def header_int(obj: Mapping[str, Any], key: str, lo: int = 0, hi: int = _MAX_INT) -> int:
    """The integer header field ``key`` in [lo, hi], else ``BadFormat``."""
    value = obj.get(key)
    need(
        isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
        f"header field {key!r} must be an integer in [{lo}, {hi}]",
    )
    assert isinstance(value, int)
    return value


def header_text(obj: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None = None) -> str:
    """The text header field ``key`` (at most 200 characters, matching ``pattern``)."""
    value = obj.get(key)
    need(isinstance(value, str) and len(value) <= 200, f"header field {key!r} must be text")
    assert isinstance(value, str)
    if pattern is not None:
        need(bool(pattern.match(value)), f"header field {key!r} has a bad value")
    return value


def _parse(data: bytes) -> tuple[Claims, dict[str, Any], int, int]:
    """(claims, meta, signed length, body start); checks the body's length, not digest."""
    if len(data) < PREFIX.size:
        if MAGIC.startswith(data[:6]):
            raise Truncated("data ends inside the prefix")
        raise BadFormat("not a signed file (bad magic)")
    magic, fmt, hlen = PREFIX.unpack_from(data)
    need(magic == MAGIC, "not a signed file (bad magic)")
    need(fmt == FORMAT, f"unknown signed file format {fmt}")
    need(hlen <= MAX_HEADER, "header too long")
    body_start = PREFIX.size + hlen + SIG_LEN
    if len(data) < body_start:
        raise Truncated("data ends inside the header or signature")
    try:
        obj = json.loads(data[PREFIX.size : PREFIX.size + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadFormat("header is not JSON") from None
    need(isinstance(obj, dict), "header is not a JSON object")
    known = {"format", "kind", "issuer", "key", "subject", "version", "created", "expires"}
    need(set(obj) <= known | {"meta", "body"}, "unknown header field")
    need(obj.get("format") == FORMAT, "unknown format version")
    kind = header_text(obj, "kind")
    need(kind in KINDS, "unknown kind")
    created = header_int(obj, "created")
    claims = Claims(
        kind=kind,
        issuer=header_text(obj, "issuer"),
        key=header_text(obj, "key", _KEY),
        subject=header_text(obj, "subject", _TOKEN),
        version=header_int(obj, "version", 1),
        created=created,
        expires=header_int(obj, "expires", created + 1),
    )
    meta = obj.get("meta", {})
    need(isinstance(meta, dict), "header field 'meta' must be an object")
    body = obj.get("body")
    need(isinstance(body, dict) and set(body) == {"length", "sha256"}, "bad body description")
    assert isinstance(body, dict)
    length = header_int(body, "length", 0, MAX_BODY)
    header_text(body, "sha256", _HEX64)
    if len(data) < body_start + length:
        raise Truncated("data ends inside the body")
    need(len(data) == body_start + length, "bytes after the body")
    meta["_sha256"] = body["sha256"]
    return claims, meta, PREFIX.size + hlen, body_start


def read_signed_header(data: bytes) -> SignedFile:
    """Parse a signed file without trusting it (inspect, publishing). Raises SignedError."""
    claims, meta, _, body_start = _parse(bytes(data))
    meta.pop("_sha256")
    return SignedFile(claims, meta, bytes(data[body_start:]))


def read_signed(
    data: bytes,
    trusted_keys: Iterable[str],
    *,
    kind: str,
    subject: str | None = None,
    applied_version: int | None = None,
    now: float | None = None,
) -> SignedFile:
    """Verify a signed file of ``kind`` (and ``subject``, when given) and return it.

    Order: layout, kind and subject, trusted key, signature, body digest, expiry, rollback.
    The kind's own validation of ``body`` is the caller's (raise ``Invalid``).
    """
    data = bytes(data)
    claims, meta, signed_len, body_start = _parse(data)
    if claims.kind != kind:
        raise WrongKind(f"a {claims.kind} file where a {kind} file was expected")
    if subject is not None and claims.subject != subject:
        raise WrongKind(f"for {claims.subject!r}, expected {subject!r}")
    check_signed(claims, data[:signed_len], data[signed_len:body_start], trusted_keys)
    if hashlib.sha256(data[body_start:]).hexdigest() != meta.pop("_sha256"):
        raise BadSignature("body does not match its signed digest")
    check_fresh(claims, applied_version=applied_version, now=now)
    return SignedFile(claims, meta, data[body_start:])


def encode_signed(
    *,
    key: Ed25519PrivateKey,
    kind: str,
    issuer: str,
    subject: str,
    version: int,
    created: int,
    expires: int,
    body: bytes,
    meta: Mapping[str, Any] | None = None,
) -> bytes:
    """Sign ``body`` as a signed file of ``kind``; refuses what the reader would refuse."""
    from cryptography.hazmat.primitives import serialization

    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    header = {
        "format": FORMAT,
        "kind": kind,
        "issuer": issuer,
        "key": public_key_string(pub),
        "subject": subject,
        "version": version,
        "created": created,
        "expires": expires,
        "meta": dict(meta or {}),
        "body": {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()},
    }
    raw = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    prefix = PREFIX.pack(MAGIC, FORMAT, len(raw)) + raw
    signed = prefix + key.sign(prefix) + body
    _parse(signed)  # never publish what the reader would refuse
    return signed
