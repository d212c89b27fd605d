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


def test_any_folder_finds_the_same_database(tmp_path: Path) -> None:
    """--data-dir (or KIOSK_SERVER_DATA) given as a relative path from one folder, and
    the settings file's data_dir relative to that file, name one absolute place; every
    command says where the database is."""
    e = cli_env()
    e.pop("KIOSK_SERVER_DB", None)
    e.pop("KIOSK_SERVER_DATA", None)
    e.pop("KIOSK_SERVER_CONFIG", None)
    here = tmp_path / "a"
    elsewhere = tmp_path / "b"
    here.mkdir()
    elsewhere.mkdir()

    def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "regional_server", *args],
            capture_output=True,
            text=True,
            env={**e, "PYTHONPATH": str(REPO_ROOT)},
            cwd=cwd,
            timeout=120,
            check=False,
        )

    r = run(["--data-dir", "data", "create-region", "KE-NBO", "Nairobi", "--country", "KE"], here)
    assert r.returncode == 0, r.stderr
    db = here / "data" / "server.db"
    assert f"database {db}" in r.stderr
    (tmp_path / "server.yaml").write_text("data_dir: a/data\n")
    r = run(
        ["--config", str(tmp_path / "server.yaml"), "create-enrollment-code", "--region", "KE-NBO"],
        elsewhere,
    )
    assert r.returncode == 0, r.stderr
    assert f"database {db}" in r.stderr
    r = run(
        ["--data-dir", str(here / "data"), "create-enrollment-code", "--region", "XX"], elsewhere
    )
    assert r.returncode == 1 and f"unknown region XX in {db}" in r.stderr
    r = run(["--version"], elsewhere)
    assert r.returncode == 0 and r.stdout.startswith("kiosk-server ")


def test_default_data_folder_is_absolute() -> None:
    from regional_server.settings import DEFAULT_DATA_DIR, Settings, load_settings

    assert Path(DEFAULT_DATA_DIR).is_absolute()
    assert Settings().data_dir == Path("/var/lib/kiosk-server")
    s = load_settings(None, {"KIOSK_SERVER_DATA": "relative"}, default_config="/nonexistent")
    assert s.data_dir.is_absolute() and s.data_dir == Path("relative").resolve()
