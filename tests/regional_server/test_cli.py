"""The kiosk-server command, run as a subprocess like an administrator would."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from kiosk_agent.net.ports import free_port
from regional_server.cli import parse_expiry
from tests.conftest import REPO_ROOT, cli_env


def _run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regional_server", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path, db_kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    e = cli_env()
    e["KIOSK_SERVER_DATA"] = str(tmp_path / "data")
    e.pop("KIOSK_SERVER_DB", None)
    if db_kind == "postgresql":
        e["KIOSK_SERVER_DB"] = request.getfixturevalue("pg_schema_url")
    return e


def test_admin_workflow(env: dict[str, str]) -> None:
    assert _run(["init-db"], env).returncode == 0
    r = _run(["create-region", "KE-NBO", "Nairobi", "--country", "KE"], env)
    assert r.returncode == 0, r.stderr
    r = _run(["create-region", "KE-NBO", "Nairobi", "--country", "KE"], env)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = _run(
        ["create-user", "c@example.org", "--role", "coordinator", "--region", "KE-NBO"],
        env,
        "a long password 1\n",
    )
    assert r.returncode == 0, r.stderr
    r = _run(
        ["create-user", "d@example.org", "--role", "coordinator", "--region", "XX"],
        env,
        "a long password 1\n",
    )
    assert r.returncode == 1 and "unknown region" in r.stderr
    r = _run(["create-user", "e@example.org", "--role", "admin"], env, "short\n")
    assert r.returncode == 1 and "at least 10" in r.stderr
    r = _run(
        ["create-enrollment-code", "--region", "KE-NBO", "--uses", "5", "--expires", "7d"], env
    )
    assert r.returncode == 0 and re.fullmatch(r"[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}\n", r.stdout)
    r = _run(["create-enrollment-code", "--region", "KE-NBO", "--expires", "soon"], env)
    assert r.returncode == 1 and "--expires" in r.stderr


def test_help_on_every_subcommand() -> None:
    env = cli_env()
    for sub in (
        "serve",
        "init-db",
        "create-region",
        "create-user",
        "create-enrollment-code",
        "publish-feed",
    ):
        r = _run([sub, "--help"], env)
        assert r.returncode == 0 and "usage:" in r.stdout


def test_parse_expiry() -> None:
    assert parse_expiry("30d") == 30 * 86400 and parse_expiry("12h") == 12 * 3600
    assert parse_expiry("2w") == 14 * 86400 and parse_expiry("3") == 3 * 86400


def test_serve_migrates_and_answers(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "regional_server",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx2.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx2.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert r.status_code == 200 and 'name="csrf_token"' in r.text
        assert len(r.headers.get_list("date")) == 1
        assert "server" not in r.headers
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr:
            proc.stderr.close()
