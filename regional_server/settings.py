"""The server's settings: defaults, an optional YAML file, and environment overrides.

Every problem is reported at once with the key, the bad value and what is allowed,
like the agent's config. ``KIOSK_SERVER_DB`` overrides the database URL and
``KIOSK_SERVER_DATA`` the data folder, so a deployment needs no file at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

ENV_DB = "KIOSK_SERVER_DB"
ENV_DATA = "KIOSK_SERVER_DATA"
ENV_CONFIG = "KIOSK_SERVER_CONFIG"
MIN_SUPPRESSION_THRESHOLD = 3
DEFAULT_DATA_DIR = "server-data"


class SettingsError(ValueError):
    """A settings file or environment value that is not valid; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("server settings: " + "; ".join(problems))


@dataclass(frozen=True)
class Settings:
    """What the server needs to run. Build with :func:`load_settings` or directly in tests."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite ``server.db`` in ``data_dir``."""
    feeds_dir: Path | None = None
    """Where published feeds live; ``None`` means ``data_dir/feeds``."""
    suppression_threshold: int = 5
    """Counts below this are shown as ``<N``; never below 3."""
    secure_cookies: bool = False
    """Mark cookies ``Secure`` (set when served over HTTPS, as it should be in production)."""
    session_hours: float = 12.0
    login_max_failures: int = 5
    login_window_seconds: int = 900
    sqlite_synchronous: str = "FULL"
    """``FULL`` keeps an acknowledged report through a power cut; ``NORMAL`` is faster."""
    silent_after_days: int = 7
    password_scrypt_n: int = 2**15

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'server.db').resolve()}"

    @property
    def feeds_path(self) -> Path:
        return self.feeds_dir if self.feeds_dir is not None else self.data_dir / "feeds"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")


_KEYS: dict[str, str] = {
    "data_dir": "a folder path",
    "database_url": "a SQLAlchemy URL (sqlite:///... or postgresql+psycopg://...)",
    "feeds_dir": "a folder path",
    "suppression_threshold": f"an integer of at least {MIN_SUPPRESSION_THRESHOLD}",
    "secure_cookies": "true or false",
    "session_hours": "a positive number of hours",
    "login_max_failures": "a positive integer",
    "login_window_seconds": "a positive integer",
    "sqlite_synchronous": "FULL or NORMAL",
    "silent_after_days": "a positive integer",
}


def _check(problems: list[str], key: str, value: Any) -> Any:
    allowed = _KEYS[key]
    ok = True
    if key in ("data_dir", "feeds_dir", "database_url"):
        ok = isinstance(value, str) and (key == "database_url" or bool(value))
        if ok and key != "database_url":
            value = Path(value)
    elif key == "suppression_threshold":
        ok = type(value) is int and value >= MIN_SUPPRESSION_THRESHOLD
    elif key == "secure_cookies":
        ok = isinstance(value, bool)
    elif key == "session_hours":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        value = float(value) if ok else value
    elif key in ("login_max_failures", "login_window_seconds", "silent_after_days"):
        ok = type(value) is int and value > 0
    elif key == "sqlite_synchronous":
        ok = isinstance(value, str) and value.upper() in ("FULL", "NORMAL")
        value = value.upper() if ok else value
    if not ok:
        problems.append(f"{key}: {value!r} is not valid; expected {allowed}")
    return value


def settings_from_mapping(data: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """Validate ``data`` (a parsed YAML mapping) over ``base``; raise ``SettingsError``."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _KEYS:
            problems.append(f"{key}: unknown key; allowed keys are {', '.join(sorted(_KEYS))}")
            continue
        values[key] = _check(problems, key, value)
    if problems:
        raise SettingsError(problems)
    return replace(base or Settings(), **values)


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then the YAML file (``path`` or ``$KIOSK_SERVER_CONFIG``), then the env."""
    env = os.environ if environ is None else environ
    settings = Settings()
    file = path or env.get(ENV_CONFIG)
    if file:
        try:
            data = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
        except OSError as e:
            raise SettingsError([f"cannot read {file}: {e.strerror}"]) from None
        except yaml.YAMLError as e:
            raise SettingsError([f"{file} is not valid YAML: {e}"]) from None
        if not isinstance(data, dict):
            raise SettingsError([f"{file}: expected a mapping of settings"])
        settings = settings_from_mapping(data, settings)
    overrides: dict[str, Any] = {}
    if env.get(ENV_DATA):
        overrides["data_dir"] = env[ENV_DATA]
    if env.get(ENV_DB):
        overrides["database_url"] = env[ENV_DB]
    return settings_from_mapping(overrides, settings) if overrides else settings
