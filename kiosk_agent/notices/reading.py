"""How long the notice stays before it can be closed: from the message's length and the
locale's reading speed, within bounds (pure).

Speeds are adult silent-reading rates in characters per minute (Trauzettel-Klosinski et
al., "Standardized assessment of reading performance: the new International Reading
Speed Texts IReST", IOVS 2012: English 987, French 998, Spanish 1025, Portuguese 913,
Arabic 612). A locale file may give its own (``language.reading_cpm``); languages the
study did not measure use ``default_cpm``: 900 for Latin script (below every Latin-script
language the study measured) and 600 otherwise (about Arabic's, its slowest alphabet).
Children of 10-17 in a café read more slowly than adults: ``CHILD_FACTOR`` halves the
rate. Only the message (the tip) is timed: the helpline box stays on the screen and the
greeting is a few words.
"""

from __future__ import annotations

import unicodedata

DEFAULT_CPM = 600
LATIN_CPM = 900
CHILD_FACTOR = 0.5
ORIENT_SECONDS = 1.5  # finding the text on a screen that just appeared
# ``notices.min_display`` (default 8 s) is the reference; the time stays within these
# multiples of it: 4-20 s by default, and 0 keeps the button enabled at once.
FLOOR_FACTOR, CEILING_FACTOR = 0.5, 2.5


def reading_chars(text: str) -> int:
    """Characters a reader takes in: combining marks, format characters and spaces are
    not counted (Khmer or Devanagari would otherwise count each vowel sign)."""
    return sum(
        1 for ch in text if unicodedata.category(ch)[0] not in "MZ" and ch not in "\u200b\u200d"
    )


def default_cpm(script: str) -> int:
    """The assumed adult rate for a locale that gives none (see the module docstring)."""
    return LATIN_CPM if script == "Latn" else DEFAULT_CPM


def min_display(text: str, cpm: int | None, reference: float) -> float:
    """Seconds before the acknowledge button is enabled for ``text`` read at ``cpm``.

    Within ``FLOOR_FACTOR`` and ``CEILING_FACTOR`` times ``reference`` (the configured
    ``notices.min_display``): a longer wait makes children click away rather than read.
    """
    if reference <= 0:
        return 0.0
    rate = cpm if cpm is not None and cpm > 0 else DEFAULT_CPM
    seconds = ORIENT_SECONDS + reading_chars(text) * 60.0 / (rate * CHILD_FACTOR)
    low, high = reference * FLOOR_FACTOR, reference * CEILING_FACTOR
    return round(min(max(seconds, low), high), 1)
