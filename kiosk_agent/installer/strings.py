"""The wizard's words in the operator's language, from the notice locale files.

The ``wizard`` section of ``kiosk_agent/content/locales/<code>.yaml`` (read with
``kiosk_agent.content.locales``) holds them; a key missing there, a broken placeholder,
or a locale not shipped falls back to English, so the wizard never shows an empty
question. Installer-only messages (steps, errors) are English: they are for whoever
troubleshoots, and a log in one language is easier to share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiosk_agent.content.locales import LOCALES_DIR, LocaleError, fill, load_all, load_locale

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
    "feed": "Blocklist feed from your coordinator: paste the line with its address and key "
    "(Enter to skip):",
    "feed_keep": "(Enter keeps the {count} feed(s) configured now)",
    "no_feed": "No blocklist feed yet: nothing is blocked until one is added (run the "
    "setup again, or enroll).",
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
            return fill(template, values)
        except ValueError:  # a translation with a placeholder English does not fill
            return fill(ENGLISH[key], values)


def available_languages(locales_dir: Path = LOCALES_DIR) -> dict[str, str]:
    """Locale code -> the language's own name, for every readable shipped locale."""
    found = {"en": "English"}
    for code, locale in load_all(locales_dir).items():
        if locale.name.strip():
            found[code] = locale.name.strip()
    return found


def load_strings(code: str, locales_dir: Path = LOCALES_DIR) -> WizardStrings:
    """The wizard strings for ``code``, English for whatever that locale lacks."""
    try:
        locale = load_locale(code, locales_dir)
    except LocaleError:
        return WizardStrings("en", "English", "ltr", dict(ENGLISH))
    strings = dict(ENGLISH)
    for key in ENGLISH:
        text = locale.strings.get(f"wizard.{key}", "")
        if text.strip():
            strings[key] = text
    return WizardStrings(locale.code, locale.name or code, locale.direction, strings)
