"""The install wizard in a terminal: a few questions, in the operator's language.

Input and output go through a ``WizardIO`` so tests drive it with scripted answers. On a
re-run (repair) each question offers the current value; Enter keeps it, and Enter at the
PIN keeps the stored PIN.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kiosk_agent.content.locales import LOCALES_DIR
from kiosk_agent.installer.answers import (
    Answers,
    check_code,
    check_country,
    check_feed_line,
    check_languages,
    check_region,
    check_server,
    parse_feed_line,
    split_languages,
)
from kiosk_agent.installer.strings import WizardStrings, available_languages, load_strings
from kiosk_agent.service.pin import validate_pin


@dataclass(frozen=True)
class Current:
    """What an installed config says now (for a repair run); empty on a first install."""

    cafe_name: str | None = None
    country: str | None = None
    region: str | None = None
    languages: tuple[str, ...] = ()
    pin_scrypt: str | None = None
    server: str | None = None
    feeds: int = 0  # feeds configured now (a repair keeps them unless a new line is given)


@dataclass
class WizardIO:
    """How the wizard talks: ``ask`` shows a prompt and returns a line (no newline),
    ``ask_secret`` the same without echo, ``say`` prints a line."""

    ask: Callable[[str], str]
    ask_secret: Callable[[str], str]
    say: Callable[[str], None]


def _read_line(prompt: str) -> str:
    print(prompt, end=" ", flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError("no more input")
    return line.rstrip("\r\n")


def _read_secret(prompt: str) -> str:
    # getpass warns and echoes when there is no terminal; read a plain line then.
    if sys.stdin.isatty():
        return getpass.getpass(prompt + " ")
    return _read_line(prompt)


def terminal_io() -> WizardIO:
    return WizardIO(ask=_read_line, ask_secret=_read_secret, say=print)


def scripted_io(lines: list[str], said: list[str]) -> WizardIO:
    """A ``WizardIO`` answering from ``lines`` in order and recording into ``said``."""
    answers: Iterator[str] = iter(lines)

    def ask(prompt: str) -> str:
        said.append(prompt)
        try:
            return next(answers)
        except StopIteration:
            raise EOFError(f"no scripted answer for: {prompt}") from None

    return WizardIO(ask=ask, ask_secret=ask, say=said.append)


def _question(
    io: WizardIO,
    s: WizardStrings,
    key: str,
    check: Callable[[str], str | None],
    current: str | None = None,
    *,
    optional: bool = False,
    normalize: Callable[[str], str] = str.strip,
) -> str | None:
    """Ask until the answer passes ``check``; Enter keeps ``current`` (or skips if optional)."""
    prompt = s.text(key)
    if current:
        prompt = f"{prompt} {s.text('keep', current=current)}"
    while True:
        answer = normalize(io.ask(prompt))
        if not answer:
            if current:
                return current
            if optional:
                return None
            io.say(s.text("invalid", problem="this answer is needed"))
            continue
        problem = check(answer)
        if problem is None:
            return answer
        io.say(s.text("invalid", problem=problem))


def _ask_pin(io: WizardIO, s: WizardStrings, has_pin: bool) -> str | None:
    """A new PIN typed twice, or None to keep the stored one."""
    prompt = s.text("pin") + (f" {s.text('keep_pin')}" if has_pin else "")
    while True:
        first = io.ask_secret(prompt).strip()
        if not first and has_pin:
            return None
        problem = validate_pin(first)
        if problem is not None:
            io.say(
                s.text("pin_too_short") if len(first) < 4 else s.text("invalid", problem=problem)
            )
            continue
        if io.ask_secret(s.text("pin_again")).strip() != first:
            io.say(s.text("pin_mismatch"))
            continue
        return first


def choose_language(io: WizardIO, default: str, locales_dir: Path = LOCALES_DIR) -> str:
    """Show the shipped languages in their own names and let the operator pick one."""
    languages = available_languages(locales_dir)
    io.say("  ".join(f"{code}: {name}" for code, name in languages.items()))
    english = load_strings("en", locales_dir)
    if default not in languages:
        default = "en"
    while True:
        answer = io.ask(english.text("choose_language", default=default)).strip().lower()
        if not answer:
            return default
        if answer in languages:
            return answer
        io.say(english.text("invalid", problem=f"one of {', '.join(languages)}"))


def run_wizard(
    io: WizardIO,
    current: Current = Current(),
    *,
    language: str | None = None,
    locales_dir: Path = LOCALES_DIR,
) -> Answers:
    """Ask the install questions and return the answers (raises ``EOFError`` on end of input)."""
    if language is None:
        default = current.languages[0] if current.languages else "en"
        language = choose_language(io, default, locales_dir)
    s = load_strings(language, locales_dir)
    io.say("")
    io.say(s.text("title"))
    io.say(s.text("welcome"))
    name = _question(io, s, "cafe_name", lambda v: None, current.cafe_name)
    country = _question(
        io, s, "country", check_country, current.country, normalize=lambda v: v.strip().upper()
    )
    region = _question(
        io, s, "region", check_region, current.region, normalize=lambda v: v.strip().upper()
    )
    langs = _question(
        io,
        s,
        "languages",
        lambda v: check_languages(split_languages(v)),
        ", ".join(current.languages) or None,
    )
    pin = _ask_pin(io, s, current.pin_scrypt is not None)
    server = _question(io, s, "server", check_server, current.server, optional=True)
    code = None
    if server:
        code = _question(io, s, "enrollment_code", check_code, optional=True)
    feeds = _ask_feed(io, s, current.feeds)
    assert name and country and region and langs
    return Answers(
        cafe_name=name,
        country=country,
        region=region,
        languages=tuple(split_languages(langs)),
        language=language,
        pin=pin,
        pin_scrypt=current.pin_scrypt if pin is None else None,
        server=server.rstrip("/") if server else None,
        enrollment_code=code,
        feeds=feeds,
    )


def _ask_feed(io: WizardIO, s: WizardStrings, configured: int) -> tuple[dict[str, object], ...]:
    """The blocklist feed, so the PC is protected from its first minute (issue 16); Enter
    keeps the configured feeds (a repair) or skips with a warning (a first install)."""
    prompt = s.text("feed")
    if configured:
        prompt = f"{prompt} {s.text('feed_keep', count=configured)}"
    while True:
        answer = io.ask(prompt).strip()
        if not answer:
            if not configured:
                io.say(s.text("no_feed"))
            return ()
        problem = check_feed_line(answer)
        if problem is None:
            feed, _ = parse_feed_line(answer)
            assert feed is not None
            return (feed,)
        io.say(s.text("invalid", problem=problem))
