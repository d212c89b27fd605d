"""Program releases as signed files: version numbers, and the verifier's refusals."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.contracts import release, signed

KEY = Ed25519PrivateKey.generate()
PUB = signed.public_key_string(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
NOW = int(time.time())


def make(
    version: str = "1.2.3", *, key: Ed25519PrivateKey = KEY, expires: int = NOW + 3600
) -> bytes:
    return release.encode_release(
        key=key, program=b"\x7fELF program", program_version=version, issuer="test",
        created=NOW - 10, expires=expires,
    )  # fmt: skip


parts = st.integers(0, 999_999)


@given(parts, parts, parts, parts, parts, parts)
def test_version_numbers_keep_the_order_of_versions(
    a: int, b: int, c: int, x: int, y: int, z: int
) -> None:
    first, second = f"{a}.{b}.{c}", f"{x}.{y}.{z}"
    n1, n2 = release.version_number(first), release.version_number(second)
    assert (n1 < n2) == ((a, b, c) < (x, y, z))
    assert release.version_text(n1) == first


@given(st.text(max_size=30))
def test_version_parser_never_dies_on_junk(text: str) -> None:
    try:
        n = release.version_number(text)
    except release.VersionError:
        return
    assert release.version_text(n) == text


@pytest.mark.parametrize("bad", ["1.2", "1.2.3.4", "01.2.3", "1.2.3rc1", "1.2.3 ", "v1.2.3", ""])
def test_only_plain_versions(bad: str) -> None:
    with pytest.raises(release.VersionError):
        release.version_number(bad)
    assert release.running_number(bad) is None


def test_a_good_release_is_read_with_its_program() -> None:
    f = release.read_release(make(), frozenset({PUB}), floor=None, now=NOW)
    assert f.body == b"\x7fELF program"
    assert f.meta["program_version"] == "1.2.3" and f.meta["size"] == len(f.body)
    assert f.claims.version == release.version_number("1.2.3")


def test_refusals() -> None:
    trust = frozenset({PUB})
    with pytest.raises(signed.Rollback):  # never the version running, never older
        release.read_release(make("1.2.3"), trust, floor=release.version_number("1.2.3"), now=NOW)
    with pytest.raises(signed.Rollback):
        release.read_release(make("1.2.3"), trust, floor=release.version_number("1.3.0"), now=NOW)
    with pytest.raises(signed.Expired):
        release.read_release(make(expires=NOW + 5), trust, floor=None, now=NOW + 6)
    with pytest.raises(signed.UntrustedKey):
        release.read_release(make(key=Ed25519PrivateKey.generate()), trust, floor=None, now=NOW)
    data = bytearray(make())
    data[-3] ^= 1  # a byte of the program changed on the way
    with pytest.raises(signed.BadSignature):
        release.read_release(bytes(data), trust, floor=None, now=NOW)
    with pytest.raises(signed.Truncated):
        release.read_release(make()[:-1], trust, floor=None, now=NOW)
    pack = signed.encode_signed(
        key=KEY, kind="content", issuer="t", subject="content", version=5, created=NOW - 1,
        expires=NOW + 60, body=b"{}",
    )  # fmt: skip
    with pytest.raises(signed.WrongKind):
        release.read_release(pack, trust, floor=None, now=NOW)


def test_meta_must_name_the_signed_version() -> None:
    data = signed.encode_signed(
        key=KEY, kind="release", issuer="t", subject="release",
        version=release.version_number("2.0.0"), created=NOW - 1, expires=NOW + 60,
        body=b"p", meta={"program_version": "9.9.9"},
    )  # fmt: skip
    with pytest.raises(signed.Invalid):
        release.read_release(data, frozenset({PUB}), floor=None, now=NOW)
