"""The one verifier: signed files of every kind, their refusals, fuzzed parsing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_agent.contracts import feed, signed
from tests.filter.feed_helpers import entries, full, keypair, random_hashes

KEY, PUB = keypair()
OTHER, OTHER_PUB = keypair()
NOW = 1_800_000_000


def make(version: int = 3, kind: str = "content", body: bytes = b"payload", **kw: object) -> bytes:
    args: dict[str, object] = {
        "key": KEY,
        "kind": kind,
        "issuer": "Test issuer",
        "subject": "content",
        "version": version,
        "created": NOW - 10,
        "expires": NOW + 1000,
        "body": body,
        "meta": {"note": "x"},
    }
    args.update(kw)
    return signed.encode_signed(**args)  # type: ignore[arg-type]


def test_round_trip() -> None:
    f = signed.read_signed(make(), [PUB], kind="content", applied_version=2, now=NOW)
    assert f.body == b"payload"
    assert f.claims.version == 3 and f.claims.key == PUB and f.claims.kind == "content"
    assert f.meta == {"note": "x"}
    assert signed.read_signed_header(make()).claims == f.claims


@pytest.mark.parametrize(
    ("kw", "check", "code"),
    [
        ({}, {"trusted": [OTHER_PUB]}, "untrusted_key"),
        ({}, {"applied": 3}, "rollback"),
        ({}, {"applied": 4}, "rollback"),
        ({}, {"now": NOW + 1000}, "expired"),
        ({}, {"kind": "settings"}, "wrong_kind"),
        ({}, {"subject": "other"}, "wrong_kind"),
        ({"kind": "settings"}, {}, "wrong_kind"),
    ],
)
def test_refusals(kw: dict[str, object], check: dict[str, object], code: str) -> None:
    data = make(**kw)  # type: ignore[arg-type]
    with pytest.raises(signed.SignedError) as e:
        signed.read_signed(
            data,
            check.get("trusted", [PUB]),  # type: ignore[arg-type]
            kind=str(check.get("kind", "content")),
            subject=check.get("subject"),  # type: ignore[arg-type]
            applied_version=check.get("applied"),  # type: ignore[arg-type]
            now=float(check.get("now", NOW)),  # type: ignore[arg-type]
        )
    assert e.value.code == code


def test_changed_body_or_header_is_a_bad_signature() -> None:
    data = bytearray(make())
    data[-1] ^= 1
    with pytest.raises(signed.BadSignature):
        signed.read_signed(bytes(data), [PUB], kind="content", now=NOW)
    data = bytearray(make())
    at = bytes(data).index(b'"version":3')
    data[at + 10] = ord("9")
    with pytest.raises(signed.BadSignature):
        signed.read_signed(bytes(data), [PUB], kind="content", now=NOW)


def test_feed_bundles_use_the_same_checks() -> None:
    """The feed's refusals are the signed ones (one verifier, feed wire format kept)."""
    bundle = full(KEY, entries(random_hashes(20, 1)), version=2)
    assert feed.FeedError is signed.SignedError
    header = feed.read_header(bundle)
    assert header.claims == signed.Claims(
        "feed", header.issuer, PUB, "hotline", 2, header.created, header.expires
    )
    with pytest.raises(signed.UntrustedKey):
        feed.read_bundle(bundle, [OTHER_PUB])
    with pytest.raises(signed.Rollback):
        feed.read_bundle(bundle, [PUB], applied_version=2)
    assert bundle[:6] == b"KAFEED"
    with pytest.raises(signed.BadFormat):  # a feed bundle is not a signed file
        signed.read_signed(bundle, [PUB], kind="feed")


GOOD = make()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_only_signed_errors(data: bytes) -> None:
    with pytest.raises(signed.SignedError):
        signed.read_signed(data, [PUB], kind="content", now=NOW)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(GOOD) - 1), st.integers(1, 255), st.integers(0, len(GOOD)))
def test_mutated_or_truncated_only_signed_errors(pos: int, flip: int, cut: int) -> None:
    data = bytearray(GOOD)
    data[pos] ^= flip
    for candidate in (bytes(data), GOOD[:cut]):
        if candidate == GOOD:
            continue
        with pytest.raises(signed.SignedError):
            signed.read_signed(candidate, [PUB], kind="content", now=NOW)
