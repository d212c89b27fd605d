"""The server's settings: defaults, an optional YAML file, and environment overrides.

Every problem is reported at once with the key, the bad value and what is allowed,
like the agent's config. ``KIOSK_SERVER_DB`` overrides the database URL,
``KIOSK_SERVER_DATA`` the data folder and ``KIOSK_SERVER_TRUSTED_PROXIES`` (set by
``serve --proxy-headers``) the trusted proxies, so a deployment needs no file at all.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from regional_server.perturb import DEFAULT_MAX_NOISE, DEFAULT_NOISE_VARIANCE, MIN_THRESHOLD
from regional_server.tls import MAX_TICKETS

ENV_DB = "KIOSK_SERVER_DB"
ENV_DATA = "KIOSK_SERVER_DATA"
ENV_CONFIG = "KIOSK_SERVER_CONFIG"
ENV_TRUSTED_PROXIES = "KIOSK_SERVER_TRUSTED_PROXIES"
ENV_SMTP_PASSWORD = "KIOSK_SERVER_SMTP_PASSWORD"
SMTP_SECURITY = ("starttls", "tls", "none")
MIN_SUPPRESSION_THRESHOLD = MIN_THRESHOLD
DEFAULT_DATA_DIR = "/var/lib/kiosk-server"
"""Absolute, so a command run from any folder finds the same database."""
DEFAULT_CONFIG = "/etc/kiosk-server/server.yaml"
"""Read when it exists and neither ``--config`` nor ``KIOSK_SERVER_CONFIG`` names a file."""
# OWASP's Password Storage Cheat Sheet (2025): scrypt with N >= 2**17, r = 8, p = 1.
MIN_SCRYPT_N = 2**17
DEFAULT_MAX_BODY_BYTES = 64 * 1024


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
    """Counts below this (after perturbation) are shown as ``<N``; never below 3."""
    noise_max: int = DEFAULT_MAX_NOISE
    """Cell key method: the largest noise added to or taken from a published count."""
    noise_variance: float = DEFAULT_NOISE_VARIANCE
    """Cell key method: the noise's variance (at most that of the uniform noise,
    ``noise_max * (noise_max + 1) / 3``; larger values mean the uniform noise)."""
    secure_cookies: bool | None = None
    """Mark cookies ``Secure``; ``None`` (the default) decides per request: Secure unless
    the request came over plain HTTP to a loopback address (a server listening on
    loopback only, for a demo or a test on one machine)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of reverse proxies whose ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` are believed; nobody else's are."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest request body accepted (413 beyond); report uploads have their own bound."""
    login_concurrency: int = 2
    """Password checks running at once per process (each scrypt check takes 128 MiB)."""
    session_hours: float = 12.0
    login_max_failures: int = 5
    login_window_seconds: int = 900
    sqlite_synchronous: str = "FULL"
    """``FULL`` keeps an acknowledged report through a power cut; ``NORMAL`` is faster."""
    silent_after_days: int = 7
    report_timely_days: int = 3
    """Reporting timeliness: a kiosk's week counts as on time when its first report for
    the week arrived at most this many days after the week ended."""
    smtp_host: str = ""
    """The digest e-mail's SMTP server; empty: no e-mail is sent."""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    """``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``none`` (loopback)."""
    smtp_user: str = ""
    smtp_password_file: Path | None = None
    """A file holding the SMTP password (``$KIOSK_SERVER_SMTP_PASSWORD`` wins)."""
    smtp_password: str = ""
    """Read from the environment or ``smtp_password_file``, never from the YAML file."""
    smtp_from: str = ""
    parent_url: str = ""
    """The parent server that ``push-parent`` sends published region figures to
    (``https://...``; plain ``http`` only to a loopback address); empty: none."""
    parent_push_weeks: int = 8
    """Weeks each push carries (the current one and those before): a missed run is
    made up by the next one."""
    password_scrypt_n: int = MIN_SCRYPT_N
    """scrypt cost for new hashes; older, cheaper hashes are redone at the next login."""
    tls_session_tickets: int = 0
    """TLS session tickets sent per connection by ``serve --tls-cert`` (TLS 1.3; with 0
    no TLS 1.2 ticket either). None by default: no kiosk client resumes a session, and
    each ticket is ≈ 250 bytes on a café's metered uplink (``regional_server/tls.py``)."""

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
    "noise_max": "an integer from 1 to 10",
    "noise_variance": "a positive number",
    "secure_cookies": "true, false or auto",
    "trusted_proxies": "a list of IP addresses or networks (CIDR)",
    "max_body_bytes": "an integer of at least 1024",
    "login_concurrency": "a positive integer",
    "session_hours": "a positive number of hours",
    "login_max_failures": "a positive integer",
    "login_window_seconds": "a positive integer",
    "sqlite_synchronous": "FULL or NORMAL",
    "silent_after_days": "a positive integer",
    "report_timely_days": "an integer from 0 to 60",
    "smtp_host": "a host name or address",
    "smtp_port": "a port number (1-65535)",
    "smtp_security": "starttls, tls or none",
    "smtp_user": "a user name",
    "smtp_password_file": "a file path",
    "smtp_from": "an e-mail address such as alerts@example.org",
    "parent_url": "an https:// URL (plain http:// only to a loopback address), or empty",
    "parent_push_weeks": "an integer from 1 to 53",
    "tls_session_tickets": f"an integer from 0 to {MAX_TICKETS}",
}


def _check(problems: list[str], key: str, value: Any) -> Any:
    allowed = _KEYS[key]
    ok = True
    if key in ("data_dir", "feeds_dir", "database_url", "smtp_password_file"):
        ok = isinstance(value, str) and (key == "database_url" or bool(value))
        if ok and key != "database_url":
            value = Path(value)
    elif key in ("smtp_host", "smtp_user"):
        ok = isinstance(value, str) and len(value) <= 255 and not any(c in value for c in "\r\n")
    elif key == "smtp_from":
        ok = isinstance(value, str) and _EMAIL.fullmatch(value) is not None
    elif key == "smtp_port":
        ok = type(value) is int and 1 <= value <= 65535
    elif key == "smtp_security":
        ok = value in SMTP_SECURITY
    elif key == "report_timely_days":
        ok = type(value) is int and 0 <= value <= 60
    elif key == "suppression_threshold":
        ok = type(value) is int and value >= MIN_SUPPRESSION_THRESHOLD
    elif key == "noise_max":
        ok = type(value) is int and 1 <= value <= 10
    elif key == "noise_variance":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        value = float(value) if ok else value
    elif key == "secure_cookies":
        ok = isinstance(value, bool) or value in ("auto", None)
        value = None if value in ("auto", None) else value
    elif key == "trusted_proxies":
        value, ok = _networks(value)
    elif key == "max_body_bytes":
        ok = type(value) is int and value >= 1024
    elif key == "session_hours":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        value = float(value) if ok else value
    elif key in (
        "login_max_failures",
        "login_window_seconds",
        "silent_after_days",
        "login_concurrency",
    ):
        ok = type(value) is int and value > 0
    elif key == "parent_url":
        ok = isinstance(value, str) and (value == "" or _parent_url_ok(value))
    elif key == "parent_push_weeks":
        ok = type(value) is int and 1 <= value <= 53
    elif key == "tls_session_tickets":
        ok = type(value) is int and 0 <= value <= MAX_TICKETS
    elif key == "sqlite_synchronous":
        ok = isinstance(value, str) and value.upper() in ("FULL", "NORMAL")
        value = value.upper() if ok else value
    if not ok:
        problems.append(f"{key}: {value!r} is not valid; expected {allowed}")
    return value


_EMAIL = re.compile(r"[^@\s<>]{1,64}@[A-Za-z0-9.-]{1,253}")


def _parent_url_ok(value: str) -> bool:
    from regional_server.national.parent_url import check_parent_url

    try:
        check_parent_url(value)
    except ValueError:
        return False
    return True


def _networks(value: Any) -> tuple[Any, bool]:
    """``trusted_proxies`` from a YAML list or a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return value, False
    out: list[str] = []
    for item in items:
        text = item.strip() if isinstance(item, str) else ""
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return value, False
        out.append(text)
    return tuple(out), True


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
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    default_config: str | os.PathLike[str] = DEFAULT_CONFIG,
) -> Settings:
    """Defaults, then the YAML file (``path``, ``$KIOSK_SERVER_CONFIG``, or
    ``/etc/kiosk-server/server.yaml`` when it exists), then the environment.

    Relative folders are made absolute: against the settings file's folder for those
    in the file, against the current folder for the environment's.
    """
    env = os.environ if environ is None else environ
    settings = Settings()
    file = path or env.get(ENV_CONFIG)
    if not file and Path(default_config).is_file():
        file = default_config
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
        base = Path(file).resolve().parent
        settings = replace(
            settings,
            data_dir=base / settings.data_dir,
            feeds_dir=None if settings.feeds_dir is None else base / settings.feeds_dir,
            smtp_password_file=None
            if settings.smtp_password_file is None
            else base / settings.smtp_password_file,
        )
    overrides: dict[str, Any] = {}
    if env.get(ENV_DATA):
        overrides["data_dir"] = str(Path(env[ENV_DATA]).resolve())
    if env.get(ENV_DB):
        overrides["database_url"] = env[ENV_DB]
    if env.get(ENV_TRUSTED_PROXIES):
        overrides["trusted_proxies"] = env[ENV_TRUSTED_PROXIES]
    if overrides:
        settings = settings_from_mapping(overrides, settings)
    return replace(settings, smtp_password=_smtp_password(settings, env))


def _smtp_password(settings: Settings, env: Mapping[str, str]) -> str:
    """``$KIOSK_SERVER_SMTP_PASSWORD``, else the first line of ``smtp_password_file``."""
    if env.get(ENV_SMTP_PASSWORD):
        return env[ENV_SMTP_PASSWORD]
    if settings.smtp_password_file is None:
        return ""
    try:
        text = settings.smtp_password_file.read_text(encoding="utf-8")
    except OSError as e:
        raise SettingsError([f"cannot read {settings.smtp_password_file}: {e.strerror}"]) from None
    return text.splitlines()[0] if text else ""
