"""The feedback vocabulary shared by the locale files, the UI and the report contract.

Kept apart from ``report.py`` so the customer-session UI can check tip ids without
loading ``hashlib`` / ``gzip`` (OpenSSL's libcrypto alone is 3.3 MB resident).
"""

from __future__ import annotations

import re

TIP_ID = re.compile(r"t(?:0[1-9]|[1-3][0-9])")
"""A tip's id in the locale files: t01..t39 (shared by all locales)."""
FEEDBACK_LOCALES = (
    *("am", "ar", "bn", "en", "es", "fil", "fr", "ha", "hi", "id", "km", "pt", "sw", "th"),
    *("vi", "ur", "ne", "my", "yo", "so", "mg", "lo", "si", "und"),
)
"""Locales a feedback counter may name (``und``: any other). A closed list, with the tip
ids, bounds the feedback names to 2 x 39 x 24: a forged report cannot widen the server's
counter space with invented details. A new language is added here (and the server updated)."""
