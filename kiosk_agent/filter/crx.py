"""Chromium's packed extension format, CRX3: pack, read and verify; the extension id.

A ``.crx`` is ``Cr24``, version 3, a protobuf header and the zip. The header holds the
publisher's RSA public key, its SHA-256 signature over the signed data (the extension id)
and the zip, so the id is fixed by the key: Chromium accepts an update only when it is
signed by the key whose hash is the id the policy names. Used by the release build
(``python -m kiosk_agent.installer.browser_guard``) and by the guard API, which serves
the package.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAGIC = b"Cr24"
VERSION = 3
SIGNATURE_CONTEXT = b"CRX3 SignedData\x00"
MAX_HEADER = 1 << 20  # a real header is under 1 KiB; refuse absurd sizes before reading
# CrxFileHeader fields: sha256_with_rsa (AsymmetricKeyProof), signed_header_data;
# AsymmetricKeyProof: public_key, signature; SignedData: crx_id.
_HEADER_RSA, _HEADER_SIGNED = 2, 10000
_PROOF_KEY, _PROOF_SIGNATURE = 1, 2
_SIGNED_CRX_ID = 1

DEMO_KEY_FILE = Path(__file__).resolve().parent.parent.parent / "config/demo/DEMO-crx-key.pem"
"""The published DEMO publisher key: anyone can sign with it. Tests and demos only; the
guard API serves a package signed with it only under a ``demo: true`` config."""
DEMO_EXTENSION_ID = "pchkaajmflfdpckfjgnbgjdpcoghmbjk"
"""The Chromium id of the guard when packed with the DEMO key."""


class CrxError(ValueError):
    """Not a valid, correctly signed CRX3 package."""


@dataclass(frozen=True)
class CrxPackage:
    extension_id: str
    public_key: bytes  # DER SubjectPublicKeyInfo
    archive: bytes  # the zip


def extension_id(public_key_der: bytes) -> str:
    """Chromium's id: the first 16 bytes of SHA-256 of the key, hex digits 0-f as a-p."""
    digest = hashlib.sha256(public_key_der).digest()[:16]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest.hex())


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise CrxError("truncated or overlong varint in the header")
        byte = buf[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, pos


def parse_fields(buf: bytes) -> list[tuple[int, bytes]]:
    """The length-delimited fields of a protobuf message, in order (varints are skipped;
    the CRX messages have no other kind)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _read_varint(buf, pos)
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise CrxError("a header field runs past its end")
            out.append((number, buf[pos : pos + size]))
            pos += size
        else:
            raise CrxError(f"unexpected protobuf wire type {wire}")
    return out


def _signed_bytes(signed_data: bytes, archive: bytes) -> bytes:
    return SIGNATURE_CONTEXT + struct.pack("<I", len(signed_data)) + signed_data + archive


def public_key_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pack(archive: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """The CRX3 package of ``archive`` (a zip) signed with ``key`` (RSA, SHA-256)."""
    public = public_key_der(key)
    crx_id = hashlib.sha256(public).digest()[:16]
    signed_data = _field(_SIGNED_CRX_ID, crx_id)
    signature = key.sign(_signed_bytes(signed_data, archive), padding.PKCS1v15(), hashes.SHA256())
    proof = _field(_PROOF_KEY, public) + _field(_PROOF_SIGNATURE, signature)
    header = _field(_HEADER_RSA, proof) + _field(_HEADER_SIGNED, signed_data)
    return MAGIC + struct.pack("<II", VERSION, len(header)) + header + archive


def read(data: bytes) -> CrxPackage:
    """Parse and verify a package as Chromium does: the id in the signed data is the hash
    of a key whose RSA signature over the signed data and the zip is valid."""
    if len(data) < 12 or data[:4] != MAGIC:
        raise CrxError("not a CRX package (no Cr24 magic)")
    version, size = struct.unpack("<II", data[4:12])
    if version != VERSION:
        raise CrxError(f"CRX version {version}, expected 3")
    if size > MAX_HEADER or 12 + size > len(data):
        raise CrxError("the header size is past the end of the file")
    header, archive = data[12 : 12 + size], data[12 + size :]
    fields = parse_fields(header)
    signed = [v for n, v in fields if n == _HEADER_SIGNED]
    if len(signed) != 1:
        raise CrxError("the header has no signed data")
    crx_ids = [v for n, v in parse_fields(signed[0]) if n == _SIGNED_CRX_ID]
    if len(crx_ids) != 1 or len(crx_ids[0]) != 16:
        raise CrxError("the signed data carries no 16-byte id")
    message = _signed_bytes(signed[0], archive)
    for number, proof in fields:
        if number != _HEADER_RSA:
            continue
        parts = dict(parse_fields(proof))
        public, signature = parts.get(_PROOF_KEY, b""), parts.get(_PROOF_SIGNATURE, b"")
        if hashlib.sha256(public).digest()[:16] != crx_ids[0]:
            continue  # another signer's proof (Chromium's store adds its own)
        try:
            key = serialization.load_der_public_key(public)
        except ValueError:
            raise CrxError("the publisher's key is not a valid public key") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise CrxError("the publisher's key is not an RSA key")
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise CrxError("the publisher's signature does not match the package") from None
        return CrxPackage(extension_id(public), public, archive)
    raise CrxError("no signature by the key the id names")


def load_key(path: Path) -> rsa.RSAPrivateKey:
    """A PEM RSA private key (the publisher's, or the DEMO key)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise CrxError(f"{path} is not an RSA key of at least 2048 bits")
    return key


def update_manifest(ext_id: str, crx_url: str, version: str) -> bytes:
    """The update manifest (gupdate XML) a force-list entry's update URL returns."""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        "<gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>\n"
        f"  <app appid={quoteattr(ext_id)}>\n"
        f"    <updatecheck codebase={quoteattr(crx_url)} version={quoteattr(version)} />\n"
        "  </app>\n"
        "</gupdate>\n"
    ).encode()
