"""Key announcements: how a pinned key is replaced or revoked without a visit to every PC.

An announcement is a signed file (``contracts/signed.py``) of kind ``keys``. Its body is
JSON ``{"action": "replace"|"revoke", "key": OLD, "new_key": NEW|null, "effective": T,
"note": "..."}``. It is accepted only with a valid chain:

- signed by ``key`` itself while that key is still valid (a *rotation*, or a key
  revoking itself), or
- signed by one of the region's root keys pinned at install (a *recovery* when the old
  key is lost or compromised, or a revocation).

A replaced key stays valid until ``effective`` (so a publisher can switch any time
before it); the new key is valid as soon as the announcement is accepted. A revoked key
is refused from ``effective`` on. Announcements form one stream whose version only grows
(``subject`` ``keys``); ``TrustState`` is what a kiosk remembers of the accepted ones.
docs/keys.md describes the ceremony.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kiosk_agent.contracts import signed

SUBJECT = "keys"
ACTIONS = ("replace", "revoke")
_KEY = re.compile(r"^ed25519:[A-Za-z0-9+/]{43}=\Z")
MAX_CHAIN = 64
MAX_BODY = 4096


class BadChain(signed.SignedError):
    """Signed by a key that may not make this announcement (neither the key itself while
    valid, nor a pinned root)."""

    code = "bad_chain"


@dataclass(frozen=True)
class Announcement:
    action: str
    key: str
    new_key: str | None
    effective: int
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "key": self.key,
            "new_key": self.new_key,
            "effective": self.effective,
            "note": self.note,
        }


def parse_announcement(body: bytes) -> Announcement:
    """The body of a key announcement; raises ``signed.Invalid`` for anything else."""
    if len(body) > MAX_BODY:
        raise signed.Invalid("announcement too long")
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise signed.Invalid("announcement is not JSON") from None
    if not isinstance(obj, dict) or set(obj) - {"action", "key", "new_key", "effective", "note"}:
        raise signed.Invalid("announcement is not an object of the documented fields")
    action, key, new_key = obj.get("action"), obj.get("key"), obj.get("new_key")
    effective, note = obj.get("effective"), obj.get("note", "")
    if action not in ACTIONS:
        raise signed.Invalid("action must be replace or revoke")
    if not isinstance(key, str) or not _KEY.match(key):
        raise signed.Invalid("key must look like ed25519:BASE64")
    if action == "replace":
        if not isinstance(new_key, str) or not _KEY.match(new_key) or new_key == key:
            raise signed.Invalid("a replacement names a different new_key")
    elif new_key is not None:
        raise signed.Invalid("a revocation names no new_key")
    if isinstance(effective, bool) or not isinstance(effective, int) or effective < 0:
        raise signed.Invalid("effective must be Unix seconds")
    if not isinstance(note, str) or len(note) > 200:
        raise signed.Invalid("note must be short text")
    return Announcement(str(action), key, new_key, effective, note)


@dataclass
class TrustState:
    """The accepted announcements, as facts: ``replaced[old] = (new, effective)``,
    ``revoked[key] = effective``, and the newest accepted ``version``."""

    version: int | None = None
    replaced: dict[str, tuple[str, int]] = field(default_factory=dict)
    revoked: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "replaced": {k: [n, t] for k, (n, t) in sorted(self.replaced.items())},
            "revoked": dict(sorted(self.revoked.items())),
        }

    @classmethod
    def from_json(cls, obj: object) -> TrustState:
        """Read back ``to_json``; anything malformed gives an empty state (and the kiosk
        fetches the announcements again)."""
        if not isinstance(obj, Mapping):
            return cls()
        state = cls()
        version = obj.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > 0:
            state.version = version
        replaced, revoked = obj.get("replaced"), obj.get("revoked")
        for old, pair in (replaced if isinstance(replaced, Mapping) else {}).items():
            if (
                _KEY.match(str(old))
                and isinstance(pair, list)
                and len(pair) == 2
                and isinstance(pair[0], str)
                and _KEY.match(pair[0])
                and isinstance(pair[1], int)
            ):
                state.replaced[old] = (pair[0], pair[1])
        for key, when in (revoked if isinstance(revoked, Mapping) else {}).items():
            if _KEY.match(str(key)) and isinstance(when, int):
                state.revoked[key] = when
        return state


def is_valid(key: str, state: TrustState, now: float) -> bool:
    """``key`` is neither revoked nor replaced as of ``now``."""
    revoked = state.revoked.get(key)
    if revoked is not None and now >= revoked:
        return False
    replaced = state.replaced.get(key)
    return not (replaced is not None and now >= replaced[1])


def effective_keys(pinned: Iterable[str], state: TrustState, now: float) -> frozenset[str]:
    """The keys trusted now for a trust entry pinned as ``pinned``: each pinned key while
    valid, and the keys that replaced it (following the chain), while valid."""
    out: set[str] = set()
    for start in pinned:
        key: str | None = start
        seen: set[str] = set()
        while key is not None and key not in seen and len(seen) < MAX_CHAIN:
            seen.add(key)
            if is_valid(key, state, now):
                out.add(key)
            elif key in state.revoked and now >= state.revoked[key]:
                break  # a revoked key's successors came through it: not trusted either
            nxt = state.replaced.get(key)
            key = nxt[0] if nxt is not None else None
    return frozenset(out)


@dataclass(frozen=True)
class Change:
    """An accepted announcement: ``how`` is rotation | recovery | revocation."""

    how: str
    version: int
    announcement: Announcement


def accept(
    data: bytes, state: TrustState, roots: Iterable[str], *, now: float
) -> tuple[TrustState, Change]:
    """Verify one announcement against ``state`` and the pinned ``roots``; the new state.

    Raises ``signed.SignedError``: ``bad_chain`` when the signer may not make it,
    the usual codes otherwise (rollback against ``state.version``, expiry by ``now``).
    """
    head = signed.read_signed_header(data)
    announcement = parse_announcement(head.body)
    roots = frozenset(roots)
    signer = head.claims.key
    by_root = signer in roots
    by_itself = signer == announcement.key and is_valid(signer, state, now)
    if not by_root and not by_itself:
        raise BadChain(f"{signer} may not announce a change of {announcement.key}")
    verified = signed.read_signed(
        data, {signer}, kind="keys", subject=SUBJECT, applied_version=state.version, now=now
    )
    announcement = parse_announcement(verified.body)
    new = TrustState(verified.claims.version, dict(state.replaced), dict(state.revoked))
    if announcement.action == "revoke":
        new.revoked[announcement.key] = announcement.effective
        how = "revocation"
    else:
        assert announcement.new_key is not None
        new.replaced[announcement.key] = (announcement.new_key, announcement.effective)
        how = "rotation" if by_itself and not by_root else "recovery"
    return new, Change(how, verified.claims.version, announcement)


def encode_announcement(
    announcement: Announcement,
    *,
    key: Any,
    issuer: str,
    version: int,
    created: int,
    expires: int,
) -> bytes:
    """Sign an announcement with ``key`` (the old key itself, or a root key)."""
    body = json.dumps(announcement.to_json(), sort_keys=True).encode()
    parse_announcement(body)
    return signed.encode_signed(
        key=key,
        kind="keys",
        issuer=issuer,
        subject=SUBJECT,
        version=version,
        created=created,
        expires=expires,
        body=body,
    )
