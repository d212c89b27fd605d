"""Shared helpers for the feed and index tests: keys, generated lists, bundles."""

from __future__ import annotations

import random
from array import array

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent.contracts import feed

CATS = (
    feed.Category(1, "csam", "Child sexual abuse material"),
    feed.Category(2, "grooming", "Grooming"),
)
NOW = 1_800_000_000
LATER = NOW + 30 * 86400


def keypair() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key, feed.public_key_string(raw)


def random_hashes(n: int, seed: int = 1) -> array[int]:
    rnd = random.Random(seed)
    return array("Q", sorted({rnd.getrandbits(64) for _ in range(n)}))


def entries(*arrays: array[int], suspects: array[int] | None = None) -> feed.FeedEntries:
    hashes = {c.code: a for c, a in zip(CATS, arrays, strict=False)}
    if suspects is not None:
        hashes[feed.SUSPECT] = suspects
    return feed.FeedEntries(CATS[: len(arrays)], hashes)


def full(
    key: Ed25519PrivateKey, e: feed.FeedEntries, version: int = 1, list_id: str = "hotline"
) -> bytes:
    return feed.encode_full(
        e,
        key=key,
        issuer="Test hotline",
        list_id=list_id,
        version=version,
        created=NOW,
        expires=LATER,
    )


def delta(
    key: Ed25519PrivateKey,
    base: feed.FeedEntries,
    new: feed.FeedEntries,
    base_version: int,
    version: int,
    list_id: str = "hotline",
) -> bytes:
    return feed.encode_delta(
        base,
        new,
        key=key,
        issuer="Test hotline",
        list_id=list_id,
        version=version,
        base_version=base_version,
        created=NOW,
        expires=LATER,
    )
