"""The service's worker processes: command line, spawn flags, strict answers, time bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.service.worker import (
    CREATE_NO_WINDOW,
    WorkerError,
    parse_output,
    run_worker,
    spawn_options,
    worker_argv,
)


def test_argv_from_sources_runs_the_package() -> None:
    argv = worker_argv(
        "feed-check", Path("/etc/k/agent.yaml"), deadline=60, executable="/py", frozen=False
    )
    assert argv == [
        "/py", "-m", "kiosk_agent", "worker", "feed-check",
        "--config", "/etc/k/agent.yaml", "--deadline", "60",
    ]  # fmt: skip


def test_argv_of_a_frozen_program_is_the_program_itself() -> None:
    argv = worker_argv(
        "upload", "C:\\k\\agent.yaml", deadline=1800.5, executable="K.exe", frozen=True
    )
    assert argv == [
        "K.exe",
        "worker",
        "upload",
        "--config",
        "C:\\k\\agent.yaml",
        "--deadline",
        "1800.5",
    ]


def test_argv_defaults_to_this_interpreter_and_refuses_unknown_jobs() -> None:
    assert worker_argv("upload", "a.yaml", deadline=1)[:3] == [sys.executable, "-m", "kiosk_agent"]
    with pytest.raises(ValueError):
        worker_argv("rm -rf", "a.yaml", deadline=1)


def test_no_console_window_on_windows_only() -> None:
    assert spawn_options(windows=True) == {"creationflags": CREATE_NO_WINDOW}
    assert CREATE_NO_WINDOW == 0x08000000
    assert spawn_options(windows=False) == {}


def test_the_worker_command_is_hidden_from_the_help() -> None:
    from kiosk_agent.cli import build_parser

    assert "worker" not in build_parser().format_help()
    args = build_parser().parse_args(["worker", "upload", "--config", "x.yaml"])
    assert args.job == "upload" and args.deadline == 3600.0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"[]\n",
        b'"text"\n',
        b'{"a": 1}\n{"b": 2}\n',
        b'{"a": 1}\r{"b": 2}',
        b'{"a": NaN}\n',
        b'{"a": Infinity}\n',
        b'{"a": 1, "a": 2}\n',
        b"\xff\xfe{}\n",
        b'{"a": 1',
        b"[" * 100_000,
        b'{"a": "' + b"x" * 70_000 + b'"}',
    ],
)
def test_bad_answers_are_refused(data: bytes) -> None:
    with pytest.raises(WorkerError) as e:
        parse_output(data)
    assert e.value.reason == "worker_bad_output"


def test_one_object_on_one_line_is_the_answer() -> None:
    assert parse_output(b'{"result": "applied", "version": 3}\n') == {
        "result": "applied",
        "version": 3,
    }
    assert parse_output(b'{"a": null}\r\n') == {"a": None}
    assert parse_output(b'{"a": null}') == {"a": None}


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=300))
def test_parse_output_only_ever_raises_worker_error(data: bytes) -> None:
    try:
        assert isinstance(parse_output(data), dict)
    except WorkerError as e:
        assert e.reason == "worker_bad_output"


@given(st.dictionaries(st.text(), _json, max_size=6))
def test_any_object_round_trips(obj: dict[str, object]) -> None:
    line = json.dumps(obj, allow_nan=False).encode() + b"\n"
    assert parse_output(line) == obj


def _run(code: str, timeout: float = 20) -> dict[str, object]:
    argv = [sys.executable, "-c", code]
    return asyncio.run(run_worker("upload", "unused.yaml", {"x": 1}, timeout=timeout, argv=argv))


def test_the_child_gets_the_parameters_on_stdin() -> None:
    code = "import json, sys; p = json.load(sys.stdin); print(json.dumps({'got': p}))"
    assert _run(code) == {"got": {"x": 1}}


def test_a_crash_is_reported_with_its_last_words(caplog: pytest.LogCaptureFixture) -> None:
    code = "import sys; print('WARNING kiosk: disk full', file=sys.stderr); sys.exit(3)"
    with pytest.raises(WorkerError) as e:
        _run(code)
    assert e.value.reason == "worker_crashed"
    assert "code 3" in e.value.detail and "disk full" in e.value.detail
    assert "worker upload: WARNING kiosk: disk full" in caplog.text  # relayed to our log


def test_garbage_is_refused() -> None:
    with pytest.raises(WorkerError) as e:
        _run("print('hello'); print('{}')")
    assert e.value.reason == "worker_bad_output"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: reaped by asyncio's child watcher, or about to be.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_child_over_its_time_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with pytest.raises(WorkerError) as e:
        _run(code, timeout=1.5)
    assert e.value.reason == "worker_timeout"
    assert not _alive(int(pidfile.read_text()))


def test_cancelling_the_caller_kills_the_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"

    async def main() -> None:
        argv = [sys.executable, "-c", code]
        task = asyncio.create_task(run_worker("upload", "x", {}, timeout=60, argv=argv))
        while not pidfile.exists() or not pidfile.read_text():
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert not _alive(int(pidfile.read_text()))


def test_tls_is_kept_out_of_a_process_that_has_not_loaded_it() -> None:
    import subprocess

    code = (
        "import sys; from kiosk_agent.service.worker import keep_tls_out; print(keep_tls_out()); "
        "import asyncio, urllib.request; print(asyncio.run(asyncio.sleep(0, 'ok'))); "
        "print(keep_tls_out())\n"
        "try:\n import ssl\nexcept ImportError:\n print('no ssl')"
    )
    from tests.conftest import REPO_ROOT, cli_env

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), cwd=REPO_ROOT
    )
    assert done.stdout.split() == ["True", "ok", "False", "no", "ssl"], done.stderr


def test_a_missing_program_is_unavailable() -> None:
    with pytest.raises(WorkerError) as e:
        asyncio.run(run_worker("upload", "x", {}, timeout=5, argv=["/nonexistent/kiosk-agent"]))
    assert e.value.reason == "worker_unavailable"


# -- a working service: feeds applied and reports sent by workers ------------------------

HEAVY_MODULES = ("cryptography", "requests", "urllib3", "ssl", "_ssl")
"""What feed checks and uploads need and the service must not hold (≈ 28 MB)."""

RUN_AND_REPORT_MODULES = """
import atexit, json, runpy, sys
out, heavy = sys.argv[1], sys.argv[2].split(",")
def report():
    with open(out, "w") as f:
        loaded = {m.split(".")[0] for m, v in list(sys.modules.items()) if v is not None}
        json.dump(sorted(loaded & set(heavy)), f)
atexit.register(report)
sys.argv = ["kiosk-agent", *sys.argv[3:]]
runpy.run_module("kiosk_agent", run_name="__main__")
"""


def test_a_working_service_never_loads_tls_or_cryptography(tmp_path: Path) -> None:
    """The real service with a file:// feed and a reporting server: the list is
    verified and applied and a report is signed and sent, all by workers, and the
    service process itself never maps ``ssl`` or ``cryptography``."""
    import signal
    import subprocess
    import time

    import psutil
    import requests

    from kiosk_agent.contracts import manifest
    from kiosk_agent.net.ports import free_port
    from kiosk_agent.reporting.identity import enroll
    from kiosk_agent.reporting.outbox import Outbox
    from tests.conftest import REPO_ROOT, cli_env
    from tests.filter.feed_helpers import keypair
    from tests.filter.test_updater import _real_time_full, entries
    from tests.reporting.report_server import ReportServer

    state = tmp_path / "state"
    priv, pub = keypair()
    feed_dir = tmp_path / "feed"
    manifest.publish(feed_dir, [_real_time_full(priv, entries("blocked.test"), 1)])
    with ReportServer({"C": ("KE-NBO", "KE")}) as server:
        with requests.Session() as s:
            enroll(state, server.url, "C", s, now=time.time())
        outbox = Outbox.in_state_dir(state)  # a report waiting from an earlier run
        outbox.flush({(int(time.time() // 86400) * 86400 - 86400, "blocked.csam"): 3}, 86400)
        outbox.cut(time.time(), all_periods=True, agent_version="0.1.0")
        outbox.close()
        config = tmp_path / "agent.yaml"
        config.write_text(
            f"state_dir: {state}\n"
            "filter:\n"
            f"  listen: ['127.0.0.1:{free_port()}']\n"
            "  upstreams: ['127.0.0.1:9']\n"
            f"  feeds: [{{url: '{feed_dir.as_uri()}', trust: ['{pub}']}}]\n"
            f"reporting: {{server: '{server.url}', flush_every: 1s, max_link_utilization: 1.0}}\n"
            f"control: {{listen: '127.0.0.1:{free_port()}'}}\n"
        )
        loaded = tmp_path / "modules.json"
        log = (tmp_path / "service.log").open("w+")
        argv = [sys.executable, "-c", RUN_AND_REPORT_MODULES, str(loaded), ",".join(HEAVY_MODULES)]
        proc = subprocess.Popen(
            [*argv, "service", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=cli_env(),
            cwd=REPO_ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            applied = False
            while time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(OSError, ValueError):
                    feeds = json.loads((state / "feeds.json").read_text())["feeds"]
                    applied = feeds[feed_dir.as_uri()]["version"] == 1
                if applied and server.state.reports:
                    break
                time.sleep(0.2)
            assert applied and server.state.counts == {"blocked.csam": 3}
            service = psutil.Process(proc.pid)
            for _ in range(50):  # the workers have answered; they exit right after
                if not service.children():
                    break
                time.sleep(0.1)
            assert service.children() == []
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.seek(0)
            err = log.read()
            log.close()
    assert proc.returncode == 0, err
    assert json.loads(loaded.read_text()) == []
    assert "blocked.test" not in err  # the log never holds a list entry
    assert "Traceback" not in err
    file_log = (state / "logs" / "kiosk-agent.log").read_text()  # logs.add_file_log
    assert "service running" in file_log and "service stopped" in file_log
    assert "blocked.test" not in file_log
