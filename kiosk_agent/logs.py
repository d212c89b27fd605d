"""Where the agent's log goes: stderr (journald-aware), a rotating file, the Windows Event Log.

- stderr: with our own time stamp on a terminal; under systemd (``JOURNAL_STREAM`` names
  the stderr we have) without it, the level as a syslog prefix (``<3>``) instead, so each
  journal line has one time stamp and the right priority.
- the service also writes ``<state_dir>/logs/kiosk-agent.log``, rotated at 1 MB, five
  files in all: under a Windows scheduled task stderr goes nowhere, and an operator or a
  support person needs something to read (`kiosk-agent logs`).
- on Windows, records marked ``extra={"event_log": KIND}`` (start, stop, tamper, feed)
  also go to the Application event log, through ``eventcreate``.

What is logged never holds a list entry or a blocked name (docs/contracts.md): the
resolver logs counts and categories only, and this module adds no content of its own.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

LOG_DIR = "logs"
LOG_FILE = "kiosk-agent.log"
MAX_BYTES = 1_000_000
BACKUPS = 4  # with the current file: 5 files, at most about 5 MB
TIME_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PLAIN_FORMAT = "%(levelname)s %(name)s: %(message)s"
LEVELS = ("debug", "info", "warning", "error")

# syslog priorities journald reads from a "<N>" prefix (sd-daemon.h)
_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def level_from(log_level: str | None, verbose: bool, quiet: bool) -> int:
    """``--log-level`` wins; else ``-v`` debug, ``-q`` warnings and errors only, else info."""
    if log_level:
        return int(getattr(logging, log_level.upper()))
    if verbose:
        return logging.DEBUG
    if quiet:
        return logging.WARNING
    return logging.INFO


def under_journald(env: Mapping[str, str], stream_stat: os.stat_result | None) -> bool:
    """True when systemd connected ``stream_stat`` (our stderr) to the journal: it sets
    ``JOURNAL_STREAM=<device>:<inode>`` of that stream (a child whose stderr was
    redirected elsewhere inherits the variable but not the stream)."""
    value = env.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if stream_stat is None or not device.isdigit() or not inode.isdigit():
        return False
    return stream_stat.st_dev == int(device) and stream_stat.st_ino == int(inode)


class JournalFormatter(logging.Formatter):
    """``<priority>level name: message``; journald stamps the time itself."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def _stderr_stat() -> os.stat_result | None:
    try:
        return os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return None


def configure(level: int, env: Mapping[str, str] | None = None) -> None:
    """The process's stderr handler (what ``logging.basicConfig`` did, journald-aware)."""
    env = os.environ if env is None else env
    handler = logging.StreamHandler()
    if under_journald(env, _stderr_stat()):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(TIME_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def log_path(state_dir: Path) -> Path:
    return state_dir / LOG_DIR / LOG_FILE


def add_file_log(state_dir: Path) -> Path | None:
    """Also log to the rotating file in the state folder; None (and a warning) when it
    cannot be opened: the service runs anyway."""
    import logging.handlers  # not at import: the UI process never writes the file

    path = log_path(state_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError as e:
        logging.getLogger(__name__).warning("cannot write the log file %s: %s", path, e)
        return None
    handler.setFormatter(logging.Formatter(TIME_FORMAT))
    logging.getLogger().addHandler(handler)
    return path


def log_files(state_dir: Path) -> list[Path]:
    """The log files, oldest first (``kiosk-agent.log.4`` … ``kiosk-agent.log``)."""
    path = log_path(state_dir)
    backups = [path.with_name(f"{LOG_FILE}.{i}") for i in range(BACKUPS, 0, -1)]
    return [p for p in [*backups, path] if p.is_file()]


def last_lines(files: Sequence[Path], count: int) -> list[str]:
    """The last ``count`` lines across ``files`` (oldest first), reading from the end."""
    lines: list[str] = []
    for path in reversed(files):
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError:
            continue
        lines = text.splitlines() + lines
        if len(lines) >= count:
            break
    return lines[-count:] if count > 0 else []


# -- Windows Event Log ----------------------------------------------------------------

EVENT_SOURCE = "kiosk-agent"
EVENT_IDS = {"start": 100, "stop": 101, "tamper": 200, "feed": 300}
"""Event ids per kind (eventcreate allows 1-1000), so an operator can filter on them."""
EVENT_MAX_CHARS = 2000


def eventcreate_argv(kind: str, levelno: int, message: str) -> list[str]:
    """The ``eventcreate`` command line that writes one Application event."""
    if levelno >= logging.ERROR:
        event_type = "ERROR"
    elif levelno >= logging.WARNING:
        event_type = "WARNING"
    else:
        event_type = "INFORMATION"
    text = " ".join(message.split())[:EVENT_MAX_CHARS] or kind
    return [
        "eventcreate", "/L", "APPLICATION", "/SO", EVENT_SOURCE, "/T", event_type,
        "/ID", str(EVENT_IDS[kind]), "/D", text,
    ]  # fmt: skip


class EventLogHandler(logging.Handler):
    """Sends records marked ``extra={"event_log": KIND}`` to the Windows Event Log."""

    def __init__(self, run: Callable[[list[str]], object] | None = None) -> None:
        super().__init__(logging.INFO)
        self._run = run or _run_hidden

    def emit(self, record: logging.LogRecord) -> None:
        kind = getattr(record, "event_log", None)
        if kind not in EVENT_IDS:
            return
        try:
            self._run(eventcreate_argv(str(kind), record.levelno, record.getMessage()))
        except Exception:
            self.handleError(record)


def _run_hidden(argv: list[str]) -> object:
    import subprocess

    from kiosk_agent.service.worker import spawn_options

    return subprocess.run(
        argv, capture_output=True, timeout=15, check=False, **spawn_options(windows=True)
    )


def log_notable_event(event: object) -> None:
    """Bus subscriber: tamper attempts and rejected feeds, as warnings marked for the
    Event Log (the kind or reason only: never a name)."""
    from kiosk_agent.reporting.events import FeedRejected, TamperDetected

    log = logging.getLogger("kiosk_agent.service")
    if isinstance(event, TamperDetected):
        log.warning("tamper attempt: %s", event.kind, extra={"event_log": "tamper"})
    elif isinstance(event, FeedRejected):
        log.warning("feed rejected: %s", event.reason, extra={"event_log": "feed"})


def add_event_log(windows: bool | None = None) -> bool:
    """On Windows, add the Event Log handler; elsewhere do nothing."""
    if not (sys.platform == "win32" if windows is None else windows):
        return False
    logging.getLogger().addHandler(EventLogHandler())
    return True
