"""The notice texts: one YAML file per locale in ``content/locales/``, loaded and validated.

English (``en.yaml``) is the reference: every other locale must have exactly its keys, the
same number of tips and the same ``{placeholders}`` in each string. Keys are addressed by
dotted paths (``"notice.title"``, ``"block_page.other_languages"``); list items by index
(``"notice.tips.0"``). Typical use, e.g. by the block page or the install wizard::

    loc = load_locale("sw")
    loc.text("block_page.helpline", helpline="116")
    loc.tips[0].id, loc.tips[0].text, loc.tips[0].icon, loc.name, loc.is_rtl

Tips are a list of ``{id, icon, text}`` mappings (optionally ``author``: "Written by young
people in Nairobi", shown small under the tip). Ids (``t01``..``t39``) are shared by every
locale, so feedback counts per tip can be compared across languages; the icon names a PNG
in ``content/icons/`` and is the same in every locale.

Loading and validating are pure functions of the file text, so they are tested without
files; ``load_locale`` only adds reading the shipped files (cached: they never change
while the agent runs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from kiosk_agent.content import active
from kiosk_agent.content.plural import CATEGORIES, PluralRuleError, Predicate, category, parse_rules
from kiosk_agent.contracts.tips import TIP_ID

REFERENCE = "en"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DIRECTIONS = ("ltr", "rtl")
# ISO 15924 codes the bundled fonts cover (``kiosk_agent/notices/fonts/``).
SCRIPTS = ("Latn", "Arab", "Ethi", "Deva", "Beng", "Thai", "Khmr", "Mymr", "Laoo", "Sinh")
MIN_TIPS, MAX_TIPS = 12, 40
ICONS_DIR = Path(__file__).resolve().parent / "icons"
_ICON = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_CODE = re.compile(r"^[a-z]{2,3}$")
_META_KEYS = ("reviewed", "language.name", "language.direction", "language.script")
# Messages that show a count: one text per CLDR plural category of the language, e.g.
# ``wait: {one: "... {seconds} second", other: "... {seconds} seconds"}``; the value
# names the placeholder that holds the count.
PLURAL_KEYS = {
    "notice.wait": "seconds",
    "tray.protected": "hours",
    # ``tray.today_line`` holds three counts: each is filled with its own plural message.
    "tray.sessions": "sessions",
    "tray.notices": "notices",
    "tray.blocked": "blocked",
}
GENDER_MODES = ("none", "neutral", "masculine_default")


class LocaleError(Exception):
    """A locale file cannot be read at all (not YAML, not a mapping, missing metadata)."""


@dataclass(frozen=True)
class Tip:
    """One short message of the notice's pool, with its picture."""

    id: str
    icon: str
    text: str
    author: str = ""  # e.g. "Written by young people in Nairobi"; empty: none shown


@dataclass(frozen=True)
class Locale:
    """One language's texts. ``strings`` maps dotted keys to text (tips included, by index)."""

    code: str
    name: str
    direction: str
    script: str
    reviewed: bool
    strings: Mapping[str, str] = field(repr=False)
    tips: tuple[Tip, ...] = field(repr=False)
    reading_cpm: int | None = None  # adult characters per minute, if measured
    plural_rules: Mapping[str, str] = field(default_factory=dict, repr=False)
    plurals: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    # How the texts address the reader where the grammar marks gender: "none" (the
    # language does not), "neutral" (wording chosen so it does not), "masculine_default"
    # (it does, and the masculine is used: to be reworded by a reviewer). None: not said.
    gender: str | None = None

    def tip(self, tip_id: str) -> Tip | None:
        return next((t for t in self.tips if t.id == tip_id), None)

    @property
    def is_rtl(self) -> bool:
        return self.direction == "rtl"

    def text(self, key: str, **values: object) -> str:
        """The string at ``key`` with its ``{placeholders}`` filled from ``values``.

        A message with plural forms takes the form of its count's CLDR category.
        Raises ``KeyError`` for an unknown key and ``ValueError`` for a missing value.
        """
        forms = self.plurals.get(key)
        if forms:
            count = values.get(PLURAL_KEYS[key])
            if isinstance(count, int):
                form = forms.get(category(self._rules(), count)) or self.strings[key]
                return fill(form, values)
        return fill(self.strings[key], values)

    def _rules(self) -> dict[str, Predicate]:
        return _compiled_rules(tuple(sorted(self.plural_rules.items())))


@cache
def _compiled_rules(rules: tuple[tuple[str, str], ...]) -> dict[str, Predicate]:
    return parse_rules(dict(rules))


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
    tips = _parse_tips(code, data)
    rules, plurals = _parse_plurals(code, data)
    flat = flatten({k: v for k, v in data.items() if k != "notice"})
    notice = data.get("notice")
    if isinstance(notice, Mapping):
        flat.update(flatten({k: v for k, v in notice.items() if k != "tips"}, "notice."))
    elif notice is not None:
        flat["notice"] = notice
    for key, forms in plurals.items():
        # The message's "other" form stands for it among the strings (key comparison
        # with English, placeholders, fit checks); the forms are checked on their own.
        for cat in forms:
            flat.pop(f"{key}.{cat}", None)
        flat[key] = forms.get("other", "")
    flat.pop("language.plural", None)
    for cat in rules:
        flat.pop(f"language.plural.{cat}", None)
    gender = flat.pop("language.gender", None)
    if gender is not None and gender not in GENDER_MODES:
        raise LocaleError(f"{code}: language.gender must be one of {', '.join(GENDER_MODES)}")
    missing = [k for k in _META_KEYS if k not in flat]
    if missing:
        raise LocaleError(f"{code}: missing {', '.join(missing)}")
    reviewed = flat.pop("reviewed")
    if not isinstance(reviewed, bool):
        raise LocaleError(f"{code}: reviewed must be true or false, not {reviewed!r}")
    meta = {k: flat.pop(k) for k in _META_KEYS[1:]}
    cpm = flat.pop("language.reading_cpm", None)
    if cpm is not None and (not isinstance(cpm, int) or isinstance(cpm, bool) or cpm <= 0):
        raise LocaleError(f"{code}: language.reading_cpm must be a positive whole number")
    direction, script = meta["language.direction"], meta["language.script"]
    if direction not in DIRECTIONS:
        raise LocaleError(f"{code}: language.direction {direction!r} is not one of ltr, rtl")
    if script not in SCRIPTS:
        raise LocaleError(f"{code}: language.script {script!r} is not one of {', '.join(SCRIPTS)}")
    not_text = [k for k, v in flat.items() if v is not None and not isinstance(v, str)]
    if not_text:
        raise LocaleError(f"{code}: expected text (in quotes) at {', '.join(not_text)}")
    strings = {k: "" if v is None else str(v) for k, v in flat.items()}
    # Tip texts join the strings by id: the key comparison with English then reports a
    # missing or extra tip, and the placeholder check covers tips too.
    strings.update({f"notice.tips.{t.id}": t.text for t in tips})
    return Locale(
        code=code,
        name=str(meta["language.name"] or ""),
        direction=str(direction),
        script=str(script),
        reviewed=reviewed,
        strings={"language.name": str(meta["language.name"] or ""), **strings},
        tips=tips,
        reading_cpm=cpm,
        plural_rules=rules,
        plurals=plurals,
        gender=None if gender is None else str(gender),
    )


def _parse_plurals(
    code: str, data: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(CLDR rules by category, plural messages by key) of a locale file's data."""
    language = data.get("language")
    raw = language.get("plural") if isinstance(language, Mapping) else None
    rules: dict[str, str] = {}
    if raw is not None:
        if not isinstance(raw, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
        ):
            raise LocaleError(f"{code}: language.plural must map categories to CLDR rules")
        rules = {str(k): str(v) for k, v in raw.items()}
        try:
            parse_rules(rules)
        except PluralRuleError as e:
            raise LocaleError(f"{code}: language.plural: {e}") from None
    plurals: dict[str, dict[str, str]] = {}
    for key in PLURAL_KEYS:
        section, _, name = key.partition(".")
        holder = data.get(section)
        value = holder.get(name) if isinstance(holder, Mapping) else None
        if not isinstance(value, Mapping):
            continue
        forms = {str(k): v for k, v in value.items()}
        if not set(forms) <= set(CATEGORIES) or not all(isinstance(v, str) for v in forms.values()):
            raise LocaleError(f"{code}: {key} forms must be CLDR categories with text")
        plurals[key] = {k: str(v) for k, v in forms.items()}
    return rules, plurals


def _parse_tips(code: str, data: Mapping[str, Any]) -> tuple[Tip, ...]:
    notice = data.get("notice")
    raw = notice.get("tips") if isinstance(notice, Mapping) else None
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise LocaleError(f"{code}: notice.tips must be a list of {{id, icon, text}}")
    tips: list[Tip] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not all(
            isinstance(item.get(k), str) for k in ("id", "icon", "text")
        ):
            raise LocaleError(f"{code}: notice.tips[{i}] needs id, icon and text (in quotes)")
        author = item.get("author")
        if author is not None and not isinstance(author, str):
            raise LocaleError(f"{code}: notice.tips[{i}].author must be text")
        unknown = set(item) - {"id", "icon", "text", "author"}
        if unknown:
            raise LocaleError(f"{code}: notice.tips[{i}]: unknown {', '.join(map(str, unknown))}")
        tip_id, icon = str(item["id"]), str(item["icon"])
        if not TIP_ID.fullmatch(tip_id):
            raise LocaleError(f"{code}: notice.tips[{i}].id {tip_id[:20]!r} is not t01..t39")
        if not _ICON.match(icon):
            raise LocaleError(f"{code}: notice.tips[{i}].icon {icon[:20]!r} is not an icon name")
        if any(t.id == tip_id for t in tips):
            raise LocaleError(f"{code}: notice.tips: id {tip_id} twice")
        tips.append(Tip(tip_id, icon, str(item["text"]), str(author or "")))
    return tuple(tips)


def locale_problems(locale: Locale, reference: Locale) -> list[str]:
    """Content problems of ``locale`` against the ``reference`` (English), one line each."""
    problems: list[str] = []
    if not locale.name.strip():
        problems.append("language.name is empty")
    if not MIN_TIPS <= len(locale.tips) <= MAX_TIPS:
        problems.append(f"notice.tips: {len(locale.tips)} tips; {MIN_TIPS}-{MAX_TIPS} expected")
    if locale.gender is None:
        problems.append("language.gender: missing (none, neutral or masculine_default)")
    needed = {*locale.plural_rules, "other"}
    for key, ref_text in ((k, reference.strings[k]) for k in PLURAL_KEYS if k in reference.strings):
        forms = locale.plurals.get(key)
        if forms is None:
            problems.append(f"{key}: needs plural forms ({', '.join(sorted(needed))})")
            continue
        if set(forms) != needed:
            problems.append(
                f"{key}: forms {', '.join(sorted(forms))} but the plural rules need "
                f"{', '.join(sorted(needed))}"
            )
        for cat, form in forms.items():
            # A form for one number may spell it out ("ثانية واحدة"): fewer placeholders.
            got, want = placeholders(form), placeholders(ref_text)
            if got != want if cat == "other" else not got <= want:
                problems.append(f"{key}.{cat}: placeholders differ from English")
            if not form.strip():
                problems.append(f"{key}.{cat}: empty")
    for tip in locale.tips:
        ref_tip = reference.tip(tip.id)
        if ref_tip is not None and ref_tip.icon != tip.icon:
            problems.append(f"notice.tips.{tip.id}: icon {tip.icon} but English has {ref_tip.icon}")
        if not (ICONS_DIR / f"{tip.icon}.png").is_file():
            problems.append(f"notice.tips.{tip.id}: no picture {tip.icon}.png in content/icons")
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
    ``content/active.py``, with the program's own texts for keys the pack lacks: see
    ``with_program_texts``); raises ``LocaleError`` if absent or unreadable."""
    if directory is not None:
        return _load_locale(code, directory)
    folder = active.locales_dir()
    if folder == active.BUILTIN_LOCALES:
        return _load_locale(code, folder)
    return _pack_locale(code, folder)


@cache
def _load_locale(code: str, directory: Path) -> Locale:
    path = directory / f"{code}.yaml"
    if not _CODE.match(code) or not path.is_file():
        raise LocaleError(f"no locale {code!r} in {directory}")
    return parse_locale(code, path.read_text(encoding="utf-8"))


@cache
def _pack_locale(code: str, directory: Path) -> Locale:
    loc = _load_locale(code, directory)
    try:
        own = _load_locale(code, active.BUILTIN_LOCALES)
    except LocaleError:  # a language the program does not ship: English fills the gaps
        own = _load_locale(REFERENCE, active.BUILTIN_LOCALES)
    return with_program_texts(loc, own)


def with_program_texts(pack: Locale, own: Locale) -> Locale:
    """``pack``'s locale with the texts it lacks taken from the program's ``own``.

    A content pack is checked against its own English, so a pack built before a program
    update lacks the keys the newer program added (a menu entry, a message): the
    program's own translation stands in for those, instead of a ``KeyError`` on the
    kiosk, and the pack's texts (helplines, tips) stay. Tips are never mixed: a pack's
    tips are its own set."""
    missing = {
        k: v
        for k, v in own.strings.items()
        if k not in pack.strings and not k.startswith("notice.tips.")
    }
    if not missing:
        return pack
    return replace(
        pack,
        strings={**pack.strings, **missing},
        plurals={**{k: f for k, f in own.plurals.items() if k in missing}, **pack.plurals},
        plural_rules=pack.plural_rules or (own.plural_rules if own.code == pack.code else {}),
    )


def load_all(directory: Path | None = None) -> dict[str, Locale]:
    """Every readable locale in ``directory`` (default: the applied pack's; unreadable ones
    are left to ``notices check``)."""
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
