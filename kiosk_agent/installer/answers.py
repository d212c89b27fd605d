"""The install wizard's answers: typed in, or read from ``--answers FILE.yaml``.

One answers file serves every PC of a café (an unattended install). Problems are all
reported at once, each naming the key, like the config's. The PIN may be given in clear
(``operator_pin``) or already hashed (``operator_pin_scrypt``), so a file copied around a
café need not hold the PIN itself.

```yaml
language: sw                  # the wizard's language
cafe: {name: "Sunrise Net Café", country: KE, region: KE-NBO, languages: [sw, en]}
operator_pin: "4821"          # or operator_pin_scrypt: "scrypt$..."
server: https://region.example.org   # the regional server (reports, enrollment)
enrollment_code: ABCD-2345    # optional; enroll later with `kiosk-agent enroll`
feeds:                        # optional: the lists and their publishers' keys
  - {url: https://region.example.org/feeds/hotline, trust: ["ed25519:..."]}
updates:                      # optional: keys pinned at install (docs/fleet.md, docs/keys.md)
  content: {trust: ["ed25519:..."]}   # content packs
  settings: {trust: ["ed25519:..."]}  # the region's settings overlays
  release: {trust: ["ed25519:..."]}   # program releases
  keys: {roots: ["ed25519:..."]}      # the region's root keys (recovery)
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kiosk_agent.errors import UserError
from kiosk_agent.service.pin import parse_pin_hash, validate_pin

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LANG = re.compile(r"^[a-z]{2,3}$")
_REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{3,63}$")
KNOWN_KEYS = (
    "language",
    "cafe",
    "operator_pin",
    "operator_pin_scrypt",
    "server",
    "enrollment_code",
    "feeds",
    "updates",
)


@dataclass(frozen=True)
class Answers:
    """What the installer needs from the operator. ``pin`` is never written anywhere."""

    cafe_name: str
    country: str
    region: str
    languages: tuple[str, ...]
    language: str = "en"
    pin: str | None = None
    pin_scrypt: str | None = None
    server: str | None = None
    enrollment_code: str | None = None
    feeds: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    updates: dict[str, Any] | None = None
    """The config's ``updates`` section as given (checked with the config)."""


def check_country(value: str) -> str | None:
    return None if _COUNTRY.match(value) else "two capital letters, like KE"


def check_region(value: str) -> str | None:
    return None if _REGION.match(value) else "a code like KE-NBO (letters, digits, - . _)"


def check_languages(values: list[str]) -> str | None:
    if not values:
        return "at least one language code, like sw"
    bad = [v for v in values if not _LANG.match(v)]
    return f"not language codes: {', '.join(bad)}" if bad else None


def check_server(value: str) -> str | None:
    ok = re.match(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/.*)?$", value)
    return None if ok else "an address like https://region.example.org"


_FEED_URL = re.compile(r"^(https?|file)://\S+$")
_FEED_KEY = re.compile(r"^ed25519:[A-Za-z0-9+/]{43}=$")  # config.py's trusted-key form


def parse_feed_line(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The feed line a coordinator hands out — its address and its publisher's key(s), in
    any order, separated by spaces or commas (``https://… ed25519:…``) — as a config
    ``feeds`` item; or (None, what is wrong). Keys are pasted, never typed: a key that
    does not match the signatures is caught by the first update (``feeds.rejected``)."""
    urls: list[str] = []
    keys: list[str] = []
    for word in re.split(r"[\s,;]+", text.strip()):
        if not word:
            continue
        if _FEED_URL.match(word):
            urls.append(word)
        elif _FEED_KEY.match(word):
            keys.append(word)
        else:
            return None, f"{word[:40]!r} is neither an address nor an ed25519: key"
    if len(urls) != 1:
        return None, "the line needs exactly one address (https://…)"
    if not keys:
        return None, "the line needs the publisher's key (ed25519:…)"
    return {"url": urls[0], "trust": list(dict.fromkeys(keys))}, None


def check_feed_line(value: str) -> str | None:
    return parse_feed_line(value)[1]


def check_code(value: str) -> str | None:
    return (
        None if _CODE.match(value) else "the code as the coordinator gave it (letters, digits, -)"
    )


def split_languages(text: str) -> list[str]:
    """``"sw, en"`` or ``"sw en"`` -> ``["sw", "en"]`` (lowercased, order kept, no repeats)."""
    seen: dict[str, None] = {}
    for part in re.split(r"[\s,;]+", text.strip().lower()):
        if part:
            seen[part] = None
    return list(seen)


def parse_answers(data: object, source: str = "answers") -> Answers:
    """Validate an answers mapping; raises ``UserError`` listing every problem."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise UserError(f"{source}: expected a mapping of keys like cafe, operator_pin")

    def bad(key: str, value: object, allowed: str) -> None:
        problems.append(f"{key}: {value!r} is not allowed; expected {allowed}")

    for key in data:
        if key not in KNOWN_KEYS:
            problems.append(f"{key}: unknown key; known keys: {', '.join(KNOWN_KEYS)}")

    language = data.get("language", "en")
    if not isinstance(language, str) or not _LANG.match(language):
        bad("language", language, "a language code like sw")
        language = "en"

    cafe = data.get("cafe")
    name: Any = ""
    country: Any = ""
    region: Any = ""
    languages: list[str] = ["en"]
    if not isinstance(cafe, Mapping):
        bad("cafe", cafe, "a mapping with name, country, region, languages")
    else:
        for key in cafe:
            if key not in ("name", "country", "region", "languages"):
                problems.append(f"cafe.{key}: unknown key; known: name, country, region, languages")
        name = cafe.get("name")
        if not isinstance(name, str) or not name.strip():
            bad("cafe.name", name, "the café's name")
            name = ""
        country = cafe.get("country")
        if not isinstance(country, str) or check_country(country):
            bad("cafe.country", country, "two capital letters, like KE")
            country = ""
        region = cafe.get("region")
        if not isinstance(region, str) or check_region(region):
            bad("cafe.region", region, "a region code like KE-NBO")
            region = ""
        raw_langs = cafe.get("languages")
        if isinstance(raw_langs, str):
            raw_langs = split_languages(raw_langs)
        if (
            not isinstance(raw_langs, list)
            or not all(isinstance(x, str) for x in raw_langs)
            or check_languages(raw_langs)
        ):
            bad("cafe.languages", raw_langs, "a list of language codes like [sw, en]")
        else:
            languages = raw_langs

    pin = data.get("operator_pin")
    pin_scrypt = data.get("operator_pin_scrypt")
    if pin is not None:
        if isinstance(pin, int) and not isinstance(pin, bool):
            problems.append('operator_pin: write the PIN in quotes, like "0482" (leading zeros)')
            pin = None
        elif not isinstance(pin, str) or validate_pin(pin):
            problems.append(
                f"operator_pin: {validate_pin(pin) if isinstance(pin, str) else 'a text'}"
            )
            pin = None
    if pin_scrypt is not None:
        try:
            if not isinstance(pin_scrypt, str):
                raise ValueError
            parse_pin_hash(pin_scrypt)
        except ValueError:
            bad("operator_pin_scrypt", pin_scrypt, "a hash from `kiosk-agent install` (scrypt$...)")
            pin_scrypt = None
    if data.get("operator_pin") is None and data.get("operator_pin_scrypt") is None:
        problems.append("operator_pin: missing; every install needs an operator PIN")

    server = data.get("server")
    if server is not None and (not isinstance(server, str) or check_server(server)):
        bad("server", server, "an address like https://region.example.org")
        server = None
    code = data.get("enrollment_code")
    if code is not None:
        code = str(code)
        if check_code(code):
            bad("enrollment_code", code, "the code as the coordinator gave it")
            code = None
        elif server is None:
            problems.append("enrollment_code: needs server, the regional server's address")

    feeds = data.get("feeds") or []
    if not isinstance(feeds, list) or not all(isinstance(f, Mapping) for f in feeds):
        bad("feeds", feeds, "a list of {url, trust} (checked again with the config)")
        feeds = []

    updates = data.get("updates")
    if updates is not None and not isinstance(updates, Mapping):
        bad("updates", updates, "a mapping like the config's updates section")
        updates = None

    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise UserError(f"{source}: {len(problems)} problem(s):\n{lines}")
    return Answers(
        cafe_name=name.strip(),
        country=country,
        region=region,
        languages=tuple(languages),
        language=language,
        pin=pin,
        pin_scrypt=pin_scrypt,
        server=server.rstrip("/") if server else None,
        enrollment_code=code,
        feeds=tuple(dict(f) for f in feeds),
        updates=dict(updates) if updates is not None else None,
    )


def load_answers(path: Path) -> Answers:
    """Read and validate an answers file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read the answers file {path}: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({e})") from None
    return parse_answers(data, str(path))
