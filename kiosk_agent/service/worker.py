"""Short-lived child processes of the same program for the service's network and crypto work.

The service runs for weeks on PCs with 1-2 GB of memory. Feed checks and upload rounds
need ``cryptography`` (Ed25519), ``requests``/``urllib3`` and ``ssl`` (≈ 28 MB together)
and a feed check builds a new index (a full 1M bundle allocates tens of MB that CPython
keeps in its heap afterwards). So the service runs each of them in a child,
``kiosk-agent worker JOB --config PATH``, that reads its parameters as one JSON object on
stdin, prints one JSON object on one line to stdout, and exits. docs/worker-process.md
has the reasons and the protocol.

``run_worker`` is the parent's side: it builds the child's argv (``worker_argv``), starts
it without a shell and without a console window, enforces a time bound (the child is
killed after it), relays the child's log lines, and parses its answer strictly
(``parse_output``). Any failure is a ``WorkerError`` with a short reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # asyncio is imported where it runs: keep_tls_out must come first
    import asyncio

log = logging.getLogger(__name__)

WORKER_COMMAND = "worker"
"""The hidden subcommand (``kiosk_agent/commands/worker_cmd.py``)."""
JOBS = ("feed-check", "upload", "hub-fetch", "hub-relay", "hub-find", "updates-check")
MAX_OUTPUT = 64 * 1024
"""Bytes of stdout accepted from a child: one result line is well under 1 KB."""
MAX_LOG = 256 * 1024
"""Bytes of a child's stderr relayed to the service's log (a runaway child is cut off)."""
CREATE_NO_WINDOW = 0x08000000
"""Windows ``CreationFlags``: start a console program without opening a console window."""
KILL_WAIT = 5.0

_LEVEL = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


class WorkerError(Exception):
    """A worker did not give an answer: ``reason`` is a short token (``worker_crashed``,
    ``worker_timeout``, ``worker_bad_output``, ``worker_unavailable``), ``detail`` says
    what happened in plain words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def config_file(source: str) -> Path | None:
    """The config file a ``Config.source`` names, if it is one (the worker reads it).

    The feed updater and the uploader both pass it to their workers."""
    path = Path(source)
    return path.resolve() if path.is_file() else None


def keep_tls_out() -> bool:
    """Keep ``ssl`` out of this process (the service); True if it was not loaded yet.

    asyncio imports ``ssl`` only to offer TLS transports, and copes without it (as on a
    Python built without OpenSSL). The service has no TLS of its own: its HTTPS (feeds,
    uploads) runs in workers. Not mapping ``_ssl`` and ``libssl`` saved ≈ 0.7-0.9 MB of
    the service's RSS (≈ 4 MB in a bare interpreter; docs/BENCHMARKS.md, issue 3). Call
    it before anything imports asyncio; an ``import ssl`` in the process afterwards
    raises ImportError, loudly.
    """
    if "ssl" in sys.modules:
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]
    return True


def worker_argv(
    job: str,
    config_path: Path | str,
    *,
    deadline: float,
    executable: str | None = None,
    frozen: bool | None = None,
) -> list[str]:
    """The child's command line: this program again, with the hidden ``worker`` command.

    From sources the interpreter runs the package (``python -m kiosk_agent``); a frozen
    program (PyInstaller) is its own executable and takes the command directly.
    ``deadline``: the child ends itself after that many seconds even if the service that
    started it is gone.
    """
    if job not in JOBS:
        raise ValueError(f"unknown worker job {job!r}")
    exe = sys.executable if executable is None else executable
    is_frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    program = [exe] if is_frozen else [exe, "-m", "kiosk_agent"]
    return [
        *program,
        WORKER_COMMAND,
        job,
        "--config",
        str(config_path),
        "--deadline",
        f"{deadline:g}",
    ]


def spawn_options(windows: bool | None = None) -> dict[str, Any]:
    """Extra keyword arguments for starting a child: no console window on Windows (the
    service runs without one; a console program would otherwise flash one up)."""
    if windows is None:
        from kiosk_agent.platform import is_windows

        windows = is_windows()
    return {"creationflags": CREATE_NO_WINDOW} if windows else {}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("a key appears twice")
    return obj


def parse_output(data: bytes) -> dict[str, Any]:
    """A child's stdout as its one JSON object; ``WorkerError("worker_bad_output")`` for
    anything else (empty, too long, not UTF-8, several lines, not an object, NaN,
    duplicate keys)."""

    def bad(why: str) -> WorkerError:
        return WorkerError("worker_bad_output", f"the worker's answer {why}")

    if len(data) > MAX_OUTPUT:
        raise bad(f"is longer than {MAX_OUTPUT} bytes")
    if data.endswith(b"\n"):
        data = data[:-1]
        if data.endswith(b"\r"):
            data = data[:-1]
    if not data:
        raise bad("is empty")
    if b"\n" in data or b"\r" in data:
        raise bad("is more than one line")
    try:
        text = data.decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"is not JSON ({str(e)[:80]})") from None
    if not isinstance(obj, dict):
        raise bad("is not a JSON object")
    return obj


def _relay(job: str, line: str) -> None:
    """Log one line of the child's stderr in the service's log, at the child's level."""
    m = _LEVEL.match(line)
    level = logging.getLevelName(m.group(1)) if m else logging.INFO
    log.log(level if isinstance(level, int) else logging.INFO, "worker %s: %s", job, line)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


async def run_worker(
    job: str,
    config_path: Path | str,
    params: Mapping[str, Any],
    *,
    timeout: float,
    argv: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run one worker job and return its JSON answer (blocking nothing: asyncio).

    The child is killed when ``timeout`` seconds pass, and also when the awaiting task
    is cancelled (the service stopping), so no child outlives its call. ``argv`` replaces
    the command line (tests use it to run a child that misbehaves).
    """
    import asyncio

    command = list(argv) if argv is not None else worker_argv(job, config_path, deadline=timeout)
    stdin = json.dumps(dict(params), separators=(",", ":")).encode("utf-8")
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            **spawn_options(),
        )
    except OSError as e:
        raise WorkerError("worker_unavailable", f"cannot start the worker: {e}") from None
    stderr_tail: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            out, err = await asyncio.gather(
                _communicate(proc, stdin), _read_stderr(proc, job, stderr_tail)
            )
            del err
            code = await proc.wait()
    except TimeoutError:
        raise WorkerError(
            "worker_timeout", f"the {job} worker did not finish within {timeout:g} s"
        ) from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(KILL_WAIT):
                    await proc.wait()
    if code != 0:
        why = _last_line("\n".join(stderr_tail)) or "no message"
        raise WorkerError("worker_crashed", f"the {job} worker exited with code {code}: {why}")
    return parse_output(out)


async def _communicate(proc: asyncio.subprocess.Process, stdin: bytes) -> bytes:
    """Write the parameters, then read stdout up to ``MAX_OUTPUT`` (+1 to detect more)."""
    assert proc.stdin is not None and proc.stdout is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(stdin)
        await proc.stdin.drain()
    with contextlib.suppress(OSError):
        proc.stdin.close()
    out = bytearray()
    while len(out) <= MAX_OUTPUT:
        chunk = await proc.stdout.read(64 * 1024)
        if not chunk:
            break
        out += chunk
    if len(out) > MAX_OUTPUT:
        # Keep draining so the child is not blocked on a full pipe until it is killed.
        while await proc.stdout.read(64 * 1024):
            pass
    return bytes(out)


async def _read_stderr(proc: asyncio.subprocess.Process, job: str, tail: list[str]) -> None:
    assert proc.stderr is not None
    relayed = 0
    while True:
        try:
            raw = await proc.stderr.readline()
        except ValueError:  # a line longer than the stream's limit
            raw = await proc.stderr.read(64 * 1024)
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip()
        if not line:
            continue
        tail[:] = [*tail[-19:], line]
        relayed += len(raw)
        if relayed <= MAX_LOG:
            _relay(job, line)
