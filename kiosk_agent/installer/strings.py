"""The wizard's words in the operator's language, from the notice locale files.

The ``wizard`` section of ``kiosk_agent/notices/locales/<code>.yaml`` holds them; a key
missing there (or a locale not shipped) falls back to English, so the wizard never shows
an empty question. Installer-only messages (steps, errors) are English: they are for the
person who troubleshoots, and a log in one language is easier to share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

LOCALES_DIR = Path(__file__).resolve().parent.parent / "notices" / "locales"

ENGLISH: dict[str, str] = {
    "title": "Install the café safety agent",
    "welcome": "This short setup protects the customers of your café. It takes two minutes.",
    "cafe_name": "What is the name of your café?",
    "country": "Which country is the café in? (two letters, for example KE)",
    "region": "Region code from your coordinator (for example KE-NBO):",
    "languages": "Which languages do your customers read? (codes, for example sw, en)",
    "pin": "Choose an operator PIN (at least 4 digits):",
    "pin_again": "Type the PIN again:",
    "pin_mismatch": "The two PINs are not the same. Please try again.",
    "pin_too_short": "The PIN needs at least 4 digits.",
    "enrollment_code": "Enrollment code from your coordinator (leave empty to skip):",
    "installing": "Installing, please wait…",
    "done": "Done! This PC is now protected.",
    "failed": "The installation did not finish: {error}",
    "next": "Next",
    "back": "Back",
    "finish": "Finish",
    # Not (yet) in the locale files: English everywhere.
    "choose_language": "Language for this setup (code, Enter for {default}):",
    "server": "Regional server address (from your coordinator):",
    "keep": "(Enter keeps: {current})",
    "keep_pin": "(Enter keeps the current PIN)",
    "invalid": "Please check this answer: {problem}",
}


@dataclass(frozen=True)
class WizardStrings:
    """The wizard's strings for one language; ``text(key, **values)`` fills placeholders."""

    code: str
    native_name: str
    direction: str
    strings: dict[str, str]

    def text(self, key: str, **values: object) -> str:
        template = self.strings.get(key) or ENGLISH[key]
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return ENGLISH[key].format(**values)


def available_languages(locales_dir: Path = LOCALES_DIR) -> dict[str, str]:
    """Locale code -> the language's own name, for every shipped locale file."""
    found = {"en": "English"}
    for path in sorted(locales_dir.glob("*.yaml")) if locales_dir.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            name = data["language"]["name"]
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            continue
        if isinstance(name, str) and name.strip():
            found[path.stem] = name.strip()
    return found


def load_strings(code: str, locales_dir: Path = LOCALES_DIR) -> WizardStrings:
    """The wizard strings for ``code``, English for whatever that locale lacks."""
    path = locales_dir / f"{code}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        data = None
    if not isinstance(data, dict):
        return WizardStrings("en", "English", "ltr", dict(ENGLISH))
    wizard = data.get("wizard") if isinstance(data.get("wizard"), dict) else {}
    language = data.get("language") if isinstance(data.get("language"), dict) else {}
    assert isinstance(wizard, dict) and isinstance(language, dict)
    strings = dict(ENGLISH)
    strings.update({k: v for k, v in wizard.items() if isinstance(v, str) and v.strip()})
    return WizardStrings(
        code=code,
        native_name=str(language.get("name") or code),
        direction=str(language.get("direction") or "ltr"),
        strings=strings,
    )
