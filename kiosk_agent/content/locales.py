"""The notice texts: one YAML file per locale in ``content/locales/``, loaded and validated.

English (``en.yaml``) is the reference: every other locale must have exactly its keys, the
same number of tips and the same ``{placeholders}`` in each string. Keys are addressed by
dotted paths (``"notice.title"``, ``"block_page.other_languages"``); list items by index
(``"notice.tips.0"``). Typical use, e.g. by the block page or the install wizard::

    loc = load_locale("sw")
    loc.text("block_page.helpline", helpline="116")
    loc.tips, loc.name, loc.is_rtl

Loading and validating are pure functions of the file text, so they are tested without
files; ``load_locale`` only adds reading the shipped files (cached: they never change
while the agent runs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from kiosk_agent.content import active

REFERENCE = "en"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DIRECTIONS = ("ltr", "rtl")
# ISO 15924 codes the bundled fonts cover (``kiosk_agent/notices/fonts/``).
SCRIPTS = ("Latn", "Arab", "Ethi", "Deva", "Beng", "Thai", "Khmr")
MIN_TIPS, MAX_TIPS = 4, 6

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_CODE = re.compile(r"^[a-z]{2,3}$")
_META_KEYS = ("reviewed", "language.name", "language.direction", "language.script")


class LocaleError(Exception):
    """A locale file cannot be read at all (not YAML, not a mapping, missing metadata)."""


@dataclass(frozen=True)
class Locale:
    """One language's texts. ``strings`` maps dotted keys to text (tips included, by index)."""

    code: str
    name: str
    direction: str
    script: str
    reviewed: bool
    strings: Mapping[str, str] = field(repr=False)
    tips: tuple[str, ...] = field(repr=False)

    @property
    def is_rtl(self) -> bool:
        return self.direction == "rtl"

    def text(self, key: str, **values: object) -> str:
        """The string at ``key`` with its ``{placeholders}`` filled from ``values``.

        Raises ``KeyError`` for an unknown key and ``ValueError`` for a missing value.
        """
        return fill(self.strings[key], values)


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders in ``text``."""
    return frozenset(_PLACEHOLDER.findall(text))


def fill(template: str, values: Mapping[str, object]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]``.

    Unlike ``str.format`` it leaves other braces alone and never evaluates attribute or
    index expressions, so a translated string cannot break or probe the program.
    """

    def replace(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise ValueError(f"no value for placeholder {{{name}}} in {template!r}")
        return str(values[name])

    return _PLACEHOLDER.sub(replace, template)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    """Nested mappings and lists as one mapping of dotted keys to leaf values."""
    out: dict[str, object] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "."))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    out.update(flatten(item, f"{path}.{i}."))
                else:
                    out[f"{path}.{i}"] = item
        else:
            out[path] = value
    return out


def parse_locale(code: str, text: str) -> Locale:
    """Build a ``Locale`` from the YAML ``text`` of ``<code>.yaml``.

    Only what makes the file unusable raises ``LocaleError``; content problems (missing
    keys, empty strings, placeholder mismatches) are for ``locale_problems`` to report.
    """
    if not _CODE.match(code):
        raise LocaleError(f"{code!r} is not a language code (2-3 lowercase letters)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise LocaleError(f"{code}: not valid YAML: {e}") from None
    if not isinstance(data, Mapping):
        raise LocaleError(f"{code}: expected a mapping of keys at the top level")
    flat = flatten(data)
    missing = [k for k in _META_KEYS if k not in flat]
    if missing:
        raise LocaleError(f"{code}: missing {', '.join(missing)}")
    reviewed = flat.pop("reviewed")
    if not isinstance(reviewed, bool):
        raise LocaleError(f"{code}: reviewed must be true or false, not {reviewed!r}")
    meta = {k: flat.pop(k) for k in _META_KEYS[1:]}
    direction, script = meta["language.direction"], meta["language.script"]
    if direction not in DIRECTIONS:
        raise LocaleError(f"{code}: language.direction {direction!r} is not one of ltr, rtl")
    if script not in SCRIPTS:
        raise LocaleError(f"{code}: language.script {script!r} is not one of {', '.join(SCRIPTS)}")
    not_text = [k for k, v in flat.items() if v is not None and not isinstance(v, str)]
    if not_text:
        raise LocaleError(f"{code}: expected text (in quotes) at {', '.join(not_text)}")
    strings = {k: "" if v is None else str(v) for k, v in flat.items()}
    tip_keys = sorted((k for k in strings if k.startswith("notice.tips.")), key=_index)
    return Locale(
        code=code,
        name=str(meta["language.name"] or ""),
        direction=str(direction),
        script=str(script),
        reviewed=reviewed,
        strings={"language.name": str(meta["language.name"] or ""), **strings},
        tips=tuple(strings[k] for k in tip_keys),
    )


def _index(key: str) -> int:
    tail = key.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def locale_problems(locale: Locale, reference: Locale) -> list[str]:
    """Content problems of ``locale`` against the ``reference`` (English), one line each."""
    problems: list[str] = []
    if not locale.name.strip():
        problems.append("language.name is empty")
    if not MIN_TIPS <= len(locale.tips) <= MAX_TIPS:
        problems.append(f"notice.tips: {len(locale.tips)} tips; {MIN_TIPS}-{MAX_TIPS} expected")
    for key, ref_text in reference.strings.items():
        if key not in locale.strings:
            problems.append(f"{key}: missing")
            continue
        text = locale.strings[key]
        if not text.strip():
            problems.append(f"{key}: empty")
        want, got = placeholders(ref_text), placeholders(text)
        if want != got:
            problems.append(f"{key}: placeholders {_braces(got)} but English has {_braces(want)}")
    for key in locale.strings:
        if key not in reference.strings:
            problems.append(f"{key}: not in English (typo?)")
    return problems


def _braces(names: Iterable[str]) -> str:
    return "{" + ", ".join(sorted(names)) + "}" if names else "none"


def shipped_codes(directory: Path | None = None) -> list[str]:
    """Codes of the locale files in ``directory`` (default: the applied pack's), English
    first, then alphabetical."""
    directory = active.locales_dir() if directory is None else directory
    codes = sorted(p.stem for p in directory.glob("*.yaml"))
    return sorted(codes, key=lambda c: (c != REFERENCE, c))


def load_locale(code: str, directory: Path | None = None) -> Locale:
    """The locale ``code`` from ``directory`` (default: the applied content pack's, see
    ``content/active.py``); raises ``LocaleError`` if absent or unreadable."""
    return _load_locale(code, active.locales_dir() if directory is None else directory)


@cache
def _load_locale(code: str, directory: Path) -> Locale:
    path = directory / f"{code}.yaml"
    if not _CODE.match(code) or not path.is_file():
        raise LocaleError(f"no locale {code!r} in {directory}")
    return parse_locale(code, path.read_text(encoding="utf-8"))


def load_all(directory: Path | None = None) -> dict[str, Locale]:
    """Every readable locale in ``directory`` (default: the applied pack's; unreadable ones
    are left to ``notices check``)."""
    directory = active.locales_dir() if directory is None else directory
    out: dict[str, Locale] = {}
    for code in shipped_codes(directory):
        try:
            out[code] = load_locale(code, directory)
        except LocaleError:
            continue
    return out


def choose_locale(wanted: Sequence[str], available: Iterable[str]) -> str:
    """The first of ``wanted`` that is available, else English (always shipped)."""
    have = set(available)
    for code in wanted:
        if code in have:
            return code
    return REFERENCE
