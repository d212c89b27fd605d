"""The operator PIN, stored only as a scrypt hash: ``scrypt$N$r$p$SALT$HASH`` (base64).

The installer writes the hash into ``operator.pin_scrypt``; the tray, the control API and
``kiosk-agent uninstall`` check a typed PIN against it. scrypt is memory-hard, so a stolen
config does not give the PIN away by brute force on a GPU in seconds (a 4-6 digit PIN is
still weak; the hash only raises the cost).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

# 16 MiB and ~50 ms per check on an old café PC: affordable once per operator action.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_MAX_N = 2**20  # refuse absurd parameters from a tampered config (memory exhaustion)


class PinFormatError(ValueError):
    """A stored PIN hash is not in the ``scrypt$N$r$p$SALT$HASH`` format."""


def validate_pin(pin: str) -> str | None:
    """Why ``pin`` is not acceptable as an operator PIN, or None if it is.

    4-12 digits (ASCII), typed on any keyboard layout and in the tray's PIN box.
    """
    if not pin.isascii() or not pin.isdigit():
        return "the PIN may contain only digits"
    if not 4 <= len(pin) <= 12:
        return "the PIN needs 4 to 12 digits"
    if len(set(pin)) == 1:
        return "the PIN must not repeat one digit only"
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * n * r + 2**20
    )


def hash_pin(pin: str, *, n: int = SCRYPT_N, salt: bytes | None = None) -> str:
    """The ``scrypt$...`` string to store for ``pin`` (a fresh random salt each time)."""
    salt = os.urandom(_SALT_BYTES) if salt is None else salt
    digest = _scrypt(pin, salt, n, SCRYPT_R, SCRYPT_P, _HASH_BYTES)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def parse_pin_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """``(n, r, p, salt, digest)`` from a stored hash; raises ``PinFormatError``."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PinFormatError("expected scrypt$N$r$p$SALT$HASH")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except ValueError as e:
        raise PinFormatError(f"bad number or base64: {e}") from None
    if n < 2 or n > _MAX_N or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise PinFormatError("scrypt parameters out of range")
    if not salt or not 16 <= len(digest) <= 64:
        raise PinFormatError("salt or hash has the wrong length")
    return n, r, p, salt, digest


def verify_pin(pin: str, stored: str | None) -> bool:
    """Whether ``pin`` matches ``stored``; False for no stored hash or a malformed one."""
    if not stored:
        return False
    try:
        n, r, p, salt, digest = parse_pin_hash(stored)
    except PinFormatError:
        return False
    candidate = _scrypt(pin, salt, n, r, p, len(digest))
    return hmac.compare_digest(candidate, digest)
