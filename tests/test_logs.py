"""logs.py: levels, journald detection, the rotating file at its bound, `kiosk-agent logs`,
and the Windows Event Log command lines."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk_agent import logs
from kiosk_agent.cli import parse
from kiosk_agent.reporting.events import FeedRejected, NoticeShown, TamperDetected
from tests.conftest import REPO_ROOT, cli_env, run_cli


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, its handlers and level put back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            handler.close()
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def test_level_from() -> None:
    assert logs.level_from(None, False, False) == logging.INFO
    assert logs.level_from(None, True, False) == logging.DEBUG
    assert logs.level_from(None, False, True) == logging.WARNING
    assert logs.level_from("error", True, False) == logging.ERROR


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["-v", "config", "check", "x"], logging.DEBUG),
        (["config", "check", "x", "-v"], logging.DEBUG),
        (["config", "check", "x", "-q"], logging.WARNING),
        (["notices", "check", "--log-level", "error"], logging.ERROR),
        (["--log-level", "debug", "notices", "check", "-q"], logging.DEBUG),
    ],
)
def test_log_options_before_or_after_the_subcommand(argv: list[str], level: int) -> None:
    args = parse(argv)
    assert args is not None
    assert logs.level_from(args.log_level, args.verbose, args.quiet) == level


def test_under_journald(tmp_path: Path) -> None:
    path = tmp_path / "stream"
    path.write_text("")
    st = os.stat(path)
    assert logs.under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, st)
    assert not logs.under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, st)
    assert not logs.under_journald({}, st)
    assert not logs.under_journald({"JOURNAL_STREAM": "x:y"}, st)
    assert not logs.under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, None)


def test_journald_lines_carry_a_priority_and_no_time(tmp_path: Path) -> None:
    """A real process whose stderr is the stream JOURNAL_STREAM names, as under systemd."""
    err = tmp_path / "stderr"
    code = (
        "from kiosk_agent import logs; import logging\n"
        "logs.configure(logging.INFO)\n"
        "logging.getLogger('kiosk_agent.x').warning('two\\nlines')\n"
        "logging.getLogger('kiosk_agent.x').info('fine')\n"
    )
    with open(err, "wb") as stream:
        st = os.fstat(stream.fileno())
        env = dict(cli_env(), JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        subprocess.run([sys.executable, "-c", code], stderr=stream, env=env, check=True)
        env.pop("JOURNAL_STREAM")
        subprocess.run([sys.executable, "-c", code], stderr=stream, env=env, check=True)
    lines = err.read_text().splitlines()
    assert lines[:3] == ["<4>WARNING kiosk_agent.x: two", "<4>lines", "<6>INFO kiosk_agent.x: fine"]
    assert lines[3][:2] == "20" and "WARNING kiosk_agent.x: two" in lines[3]  # with a time


def test_file_log_rotates_at_its_bound(tmp_path: Path, root_logger: logging.Logger) -> None:
    root_logger.setLevel(logging.INFO)
    path = logs.add_file_log(tmp_path)
    assert path == tmp_path / "logs" / "kiosk-agent.log"
    log = logging.getLogger("kiosk_agent.test")
    line = "x" * 200
    for i in range(40_000):  # about 9 MB in all: more than five files hold
        log.info("%06d %s", i, line)
    files = logs.log_files(tmp_path)
    assert [f.name for f in files] == [
        "kiosk-agent.log.4",
        "kiosk-agent.log.3",
        "kiosk-agent.log.2",
        "kiosk-agent.log.1",
        "kiosk-agent.log",
    ]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == sorted(f.name for f in files)
    assert all(f.stat().st_size <= logs.MAX_BYTES for f in files)
    total = sum(f.stat().st_size for f in files)
    assert 4 * logs.MAX_BYTES < total <= 5 * logs.MAX_BYTES
    last = logs.last_lines(files, 3)
    assert [ln.split()[4] for ln in last] == ["039997", "039998", "039999"]
    oldest = files[0].read_text().splitlines()[0].split()[4]
    assert int(oldest) > 0  # the first lines were rotated away
    # Across a file boundary, in order.
    spanning = logs.last_lines(files, len(files[-1].read_text().splitlines()) + 2)
    numbers = [int(ln.split()[4]) for ln in spanning]
    assert numbers == list(range(numbers[0], 40_000))


def test_file_log_that_cannot_be_opened_is_not_fatal(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    assert logs.add_file_log(blocker) is None


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "agent.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    return config


def test_logs_command(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = run_cli(["logs", "--config", str(config)])
    assert done.returncode == 1 and "no log file yet" in done.stderr
    folder = tmp_path / "state" / "logs"
    folder.mkdir(parents=True)
    (folder / "kiosk-agent.log.1").write_text("one\ntwo\n")
    (folder / "kiosk-agent.log").write_text("three\nfour\n")
    done = run_cli(["logs", "--config", str(config), "-n", "3"])
    assert done.returncode == 0 and done.stdout.splitlines() == ["two", "three", "four"]
    done = run_cli(["logs", "--path", "--config", str(config)])
    assert done.stdout.strip() == str(folder / "kiosk-agent.log")


def test_eventcreate_argv() -> None:
    """As `eventcreate /?` documents it (Windows 10): log, source, type, id 1-1000, text."""
    assert logs.eventcreate_argv("tamper", logging.WARNING, "tamper attempt:\n doh") == [
        "eventcreate", "/L", "APPLICATION", "/SO", "kiosk-agent", "/T", "WARNING",
        "/ID", "200", "/D", "tamper attempt: doh",
    ]  # fmt: skip
    assert logs.eventcreate_argv("start", logging.INFO, "x")[6] == "INFORMATION"
    assert logs.eventcreate_argv("feed", logging.ERROR, "y" * 5000)[6] == "ERROR"
    assert len(logs.eventcreate_argv("feed", logging.ERROR, "y" * 5000)[-1]) == 2000
    assert all(1 <= n <= 1000 for n in logs.EVENT_IDS.values())


def test_event_log_handler_sends_marked_records_only(root_logger: logging.Logger) -> None:
    sent: list[list[str]] = []
    handler = logs.EventLogHandler(run=sent.append)
    log = logging.getLogger("kiosk_agent.service")
    log.addHandler(handler)
    root_logger.setLevel(logging.INFO)
    try:
        log.warning("ordinary")
        log.info("kiosk-agent running", extra={"event_log": "start"})
        logs.log_notable_event(TamperDetected("dns_settings"))
        logs.log_notable_event(FeedRejected("bad_signature"))
        logs.log_notable_event(NoticeShown("en"))
    finally:
        log.removeHandler(handler)
    assert [(a[8], a[-1]) for a in sent] == [
        ("100", "kiosk-agent running"),
        ("200", "tamper attempt: dns_settings"),
        ("300", "feed rejected: bad_signature"),
    ]
    assert logs.add_event_log(windows=False) is False


def test_cli_help_mentions_logs() -> None:
    done = run_cli(["--help"])
    assert "logs" in done.stdout and REPO_ROOT.is_dir()
