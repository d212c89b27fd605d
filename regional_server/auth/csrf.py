"""CSRF token comparison (constant time)."""

from __future__ import annotations

import hmac


def tokens_match(expected: str | None, submitted: str | None) -> bool:
    """True only when both tokens are present and equal."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
