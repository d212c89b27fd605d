"""Password hashing with scrypt (stdlib), in a self-describing string format.

``scrypt$N$r$p$salt$hash`` (salt and hash base64): the parameters travel with the
hash, so they can be raised later and old hashes still verify (and are redone with
the new cost at the next login: ``needs_rehash``). The default is OWASP's minimum for
scrypt (N = 2**17, r = 8, p = 1): 128 MiB and a few hundred ms per check, which is why
the server runs only a few checks at once (``login_concurrency``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

DEFAULT_N = 2**17
_R = 8
_P = 1
MIN_PASSWORD_LENGTH = 10


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32
    )


def hash_password(password: str, n: int = DEFAULT_N) -> str:
    """A new salted scrypt hash of ``password``."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, n, _R, _P)
    b64 = base64.b64encode
    return f"scrypt${n}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches ``stored``; False for any malformed hash too."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


def needs_rehash(stored: str, n: int) -> bool:
    """True when ``stored`` is cheaper than scrypt with ``n`` (or not scrypt at all)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return True
    try:
        return int(parts[1]) < n or int(parts[2]) < _R
    except ValueError:
        return True


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable for a coordinator account, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "the password is longer than 1024 characters"
    return None


@functools.cache
def dummy_hash(n: int = DEFAULT_N) -> str:
    """A hash of a random password: verifying against it when the e-mail is unknown keeps
    the response time the same, so login timing does not reveal which accounts exist."""
    return hash_password(os.urandom(16).hex(), n=n)
