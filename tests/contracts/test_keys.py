"""Key announcements: rotation, recovery through the root, revocation, forgeries refused."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.contracts import keys, signed
from kiosk_agent.contracts.keys import Announcement, TrustState
from tests.filter.feed_helpers import keypair

NOW = 1_800_000_000
OLD, OLD_PUB = keypair()
NEW, NEW_PUB = keypair()
ROOT, ROOT_PUB = keypair()
THIEF, THIEF_PUB = keypair()


def announce(signer: object, a: Announcement, version: int = 1) -> bytes:
    return keys.encode_announcement(
        a, key=signer, issuer="hotline", version=version, created=NOW - 5, expires=NOW + 86400
    )


def replace(old: str, new: str, effective: int = NOW + 3600) -> Announcement:
    return Announcement("replace", old, new, effective)


def test_rotation_signed_by_the_current_key() -> None:
    state, change = keys.accept(
        announce(OLD, replace(OLD_PUB, NEW_PUB)), TrustState(), [ROOT_PUB], now=NOW
    )
    assert change.how == "rotation" and state.version == 1
    # Until the effective date both keys are accepted; afterwards only the new one.
    assert keys.effective_keys([OLD_PUB], state, NOW) == {OLD_PUB, NEW_PUB}
    assert keys.effective_keys([OLD_PUB], state, NOW + 3600) == {NEW_PUB}


def test_recovery_through_the_root() -> None:
    state, change = keys.accept(
        announce(ROOT, replace(OLD_PUB, NEW_PUB, effective=NOW)), TrustState(), [ROOT_PUB], now=NOW
    )
    assert change.how == "recovery"
    assert keys.effective_keys([OLD_PUB], state, NOW) == {NEW_PUB}


@pytest.mark.parametrize(
    "signer_announcement",
    [
        (THIEF, replace(OLD_PUB, THIEF_PUB)),  # a stranger's key
        (NEW, replace(OLD_PUB, NEW_PUB)),  # the new key vouching for itself
        (THIEF, Announcement("revoke", OLD_PUB, None, NOW)),
    ],
)
def test_forged_announcements_are_refused(signer_announcement: tuple[object, Announcement]) -> None:
    signer, a = signer_announcement
    with pytest.raises(keys.BadChain):
        keys.accept(announce(signer, a), TrustState(), [ROOT_PUB], now=NOW)


def test_a_forged_signature_is_refused() -> None:
    """Signed by a stranger but claiming the root's key: the signature does not match."""
    good = announce(THIEF, replace(OLD_PUB, THIEF_PUB))
    forged = good.replace(THIEF_PUB.encode(), ROOT_PUB.encode(), 1)
    with pytest.raises(signed.BadSignature):
        keys.accept(forged, TrustState(), [ROOT_PUB], now=NOW)


def test_a_revoked_key_cannot_rotate_and_loses_its_successors() -> None:
    state, _ = keys.accept(announce(OLD, replace(OLD_PUB, NEW_PUB)), TrustState(), [], now=NOW)
    state, change = keys.accept(
        announce(ROOT, Announcement("revoke", OLD_PUB, None, NOW), 2), state, [ROOT_PUB], now=NOW
    )
    assert change.how == "revocation"
    assert keys.effective_keys([OLD_PUB], state, NOW) == frozenset()
    with pytest.raises(keys.BadChain):
        keys.accept(announce(OLD, replace(OLD_PUB, THIEF_PUB), 3), state, [ROOT_PUB], now=NOW)


def test_rollback_and_replay_are_refused() -> None:
    data = announce(OLD, replace(OLD_PUB, NEW_PUB))
    state, _ = keys.accept(data, TrustState(), [], now=NOW)
    with pytest.raises(signed.Rollback):
        keys.accept(data, state, [], now=NOW)


def test_chained_rotations() -> None:
    _third, third_pub = keypair()
    state, _ = keys.accept(announce(OLD, replace(OLD_PUB, NEW_PUB, NOW)), TrustState(), [], now=NOW)
    state, _ = keys.accept(announce(NEW, replace(NEW_PUB, third_pub, NOW), 2), state, [], now=NOW)
    assert keys.effective_keys([OLD_PUB], state, NOW) == {third_pub}
    assert TrustState.from_json(json.loads(json.dumps(state.to_json()))) == state


@given(st.binary(max_size=300))
def test_announcement_parser_only_invalid(data: bytes) -> None:
    with contextlib.suppress(signed.Invalid):
        keys.parse_announcement(data)


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=60),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=10), c),
    )
)
def test_trust_state_reader_never_fails(obj: object) -> None:
    TrustState.from_json(obj)
    TrustState.from_json({"replaced": obj, "revoked": obj, "version": obj})
