"""Where a line may break inside Thai, Lao, Khmer and Burmese text: by dictionary.

These scripts write no spaces between words, so a line can only break between words
that a dictionary finds. The word lists are ICU's own break dictionaries (``dicts/``,
Unicode licence; read out of Debian's libicu by ``scripts/icu_dict_words.py``, words of
at most 10 characters, front-coded, bz2): PyICU would bring the same data with 51.6 MB
of libraries, over the 25 MiB program.

Maximal matching: of all ways to cut a run of one of these scripts into dictionary
words and, where no word fits, unknown clusters, the one with the fewest unknown
clusters, then the fewest pieces. Consecutive unknown clusters stay together (a name
or a word missing from the list is not cut at random); the renderer still breaks an
over-long piece between clusters, and `notices check` reports that.
"""

from __future__ import annotations

import bz2
import re
import unicodedata
from array import array
from bisect import bisect_left
from functools import lru_cache
from pathlib import Path

DICTS_DIR = Path(__file__).resolve().parent / "dicts"
# ISO 15924 code -> the script's block (its word list is dicts/<code>.words.bz2).
BLOCKS = {
    "Thai": (0x0E00, 0x0E7F),
    "Laoo": (0x0E80, 0x0EFF),
    "Mymr": (0x1000, 0x109F),
    "Khmr": (0x1780, 0x17FF),
}
# Thai and Lao vowels written before their consonant: never the end of a piece.
_LEADING = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44\u0ec0\u0ec1\u0ec2\u0ec3\u0ec4")
# Letters that always follow something (sara a / aa / am, lakkhangyao, mai yamok;
# the Lao ones): never the start of a piece.
_FOLLOWING = frozenset("\u0e30\u0e32\u0e33\u0e45\u0e46\u0eb0\u0eb2\u0eb3\u0ec6")
# Khmer coeng and Burmese virama join the next consonant below: no break after them.
_JOINERS = frozenset("\u17d2\u1039\u200d")
MAX_WORD = 40  # characters; the longest ICU entry is 33


def script_of(ch: str) -> str | None:
    """The dictionary script ``ch`` belongs to, if any."""
    cp = ord(ch)
    for script, (lo, hi) in BLOCKS.items():
        if lo <= cp <= hi:
            return script
    return None


class WordList:
    """A sorted word list kept as one string and an array of offsets, searched by
    bisection: 2 bytes a character and 4 a word, where a set of 65,000 Khmer strings
    would cost about 70 bytes a word more."""

    def __init__(self, text: str) -> None:
        self._blob = text if text.endswith("\n") else text + "\n"
        ends = array("I", (m.start() for m in re.finditer("\n", self._blob)))
        self._ends = ends

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> str:
        start = self._ends[i - 1] + 1 if i > 0 else 0
        return self._blob[start : self._ends[i]]

    def lookup(self, piece: str) -> tuple[bool, bool]:
        """(``piece`` is a word, some word starts with ``piece``)."""
        i = bisect_left(self, piece)
        if i >= len(self):
            return False, False
        found = self[i]
        return found == piece, found.startswith(piece)


@lru_cache(maxsize=4)
def words(script: str) -> WordList:
    """The script's word list (read once; dropped by ``forget``)."""
    raw = bz2.decompress((DICTS_DIR / f"{script}.words.bz2").read_bytes())
    return WordList(front_decode(raw.decode("utf-8")))


def front_code(words: list[str]) -> str:
    """Sorted ``words`` front-coded, one a line: a digit (characters shared with the word
    before, at most 9), then the rest (``scripts/icu_dict_words.py`` writes the lists)."""
    out: list[str] = []
    prev = ""
    for word in words:
        n = 0
        while n < min(len(word), len(prev), 9) and word[n] == prev[n]:
            n += 1
        out.append(f"{n}{word[n:]}")
        prev = word
    return "\n".join(out) + "\n"


def front_decode(text: str) -> str:
    """Front-coded lines (a digit: characters shared with the word before; the rest)
    back to one word a line. Joined a few thousand words at a time: 65,000 separate
    word strings alive at once would cost the UI about 4 MB while a notice is open."""
    chunks: list[str] = []
    words: list[str] = []
    prev = ""
    pos, n = 0, len(text)
    while pos < n:
        end = text.find("\n", pos)
        end = n if end < 0 else end
        shared = ord(text[pos]) - 48
        if 0 <= shared <= 9:
            prev = prev[:shared] + text[pos + 1 : end]
            words.append(prev)
            if len(words) >= 4096:
                chunks.append("\n".join(words))
                words = []
        pos = end + 1
    chunks.append("\n".join(words))
    return "\n".join(c for c in chunks if c) + "\n"


def forget() -> None:
    """Drop the word lists and cached breaks (the UI does so when a notice closes)."""
    words.cache_clear()
    breaks.cache_clear()


def _boundaries(run: str) -> list[int]:
    """Positions inside ``run`` between clusters where a word may begin."""
    points = [0]
    for i in range(1, len(run)):
        ch, before = run[i], run[i - 1]
        if unicodedata.category(ch)[0] in "MP" or ch in _FOLLOWING or ch in _JOINERS:
            continue
        if before in _LEADING or before in _JOINERS:
            continue
        points.append(i)
    points.append(len(run))
    return points


def segment(run: str, script: str) -> list[int]:
    """Where the words of ``run`` (letters and marks of ``script`` only) end, inside it.

    Worked from the end of the run back, so that between two cuts with as few pieces
    the one with the longer first word wins (as a reader takes the longest word).
    """
    if len(run) < 2:
        return []
    allowed = _boundaries(run)
    at = set(allowed)
    lexicon = words(script)
    n = len(run)
    # best[i] = ((unknown clusters, pieces) for run[i:], end of the first piece, unknown?)
    best: dict[int, tuple[tuple[int, int], int, bool]] = {n: ((0, 0), n, False)}
    for k in range(len(allowed) - 2, -1, -1):
        i = allowed[k]
        nxt = allowed[k + 1]
        (unknown, pieces), _e, _u = best[nxt]
        choice = ((unknown + 1, pieces + 1), nxt, True)
        for end in range(i + 1, min(n, i + MAX_WORD) + 1):
            is_word, is_prefix = lexicon.lookup(run[i:end])
            if is_word and end in at:
                (unknown, pieces), _e, _u = best[end]
                cand = ((unknown, pieces + 1), end, False)
                if cand[0] <= choice[0]:  # a later (longer) word wins a tie
                    choice = cand
            if not is_prefix:
                break
        best[i] = choice
    cuts: list[int] = []
    pos, was_unknown = 0, False
    while pos < n:
        _score, end, unknown = best[pos]
        if pos > 0 and not (unknown and was_unknown):
            cuts.append(pos)
        pos, was_unknown = end, unknown
    return cuts


def _in_run(ch: str, script: str) -> bool:
    """Letters and marks of ``script`` (its punctuation and digits end a run: they stay
    with the word before them, which ends at the run's end)."""
    return unicodedata.category(ch)[0] in "LM" and (
        script_of(ch) == script or unicodedata.category(ch)[0] == "M"
    )


@lru_cache(maxsize=256)
def breaks(text: str) -> tuple[int, ...]:
    """Indexes of ``text`` where a line may break between two words of a dictionary
    script (a line ending at index ``i`` holds ``text[:i]``)."""
    points: list[int] = []
    i, n = 0, len(text)
    while i < n:
        script = script_of(text[i])
        if script is None or not _in_run(text[i], script):
            i += 1
            continue
        j = i
        while j < n and _in_run(text[j], script):
            j += 1
        if j == i:  # punctuation or a digit of the script
            i += 1
            continue
        points += [i + cut for cut in segment(text[i:j], script)]
        i = j
    return tuple(points)
