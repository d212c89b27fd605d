"""`kiosk-agent content|keys|settings ...`, `config show`, `kiosk-server publish-content`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from kiosk_agent.content import active
from tests.conftest import REPO_ROOT, cli_env, run_cli


def keygen(tmp: Path, name: str) -> tuple[Path, str]:
    path = tmp / f"{name}.pem"
    done = run_cli(["feed", "keygen", "--out", str(path)])
    assert done.returncode == 0, done.stderr
    return path, done.stdout.strip().splitlines()[-1]


def test_content_build_verify_inspect_publish(tmp_path: Path) -> None:
    key, pub = keygen(tmp_path, "content")
    out = tmp_path / "content-1.signed"
    done = run_cli(["content", "build", "--key", str(key), "--version", "1", "--out", str(out)])
    assert done.returncode == 0, done.stderr
    assert "content pack version 1" in done.stdout
    done = run_cli(["content", "verify", str(out), "--trust", pub])
    assert done.returncode == 0 and done.stdout.startswith("OK"), done.stdout
    done = run_cli(["content", "verify", str(out), "--trust", pub, "--applied-version", "1"])
    assert done.returncode == 1 and "rollback" in done.stdout
    done = run_cli(["content", "inspect", str(out)])
    assert "kind:         content" in done.stdout and "sw" in done.stdout, done.stdout
    assert "countries" in done.stdout
    env = cli_env() | {"KIOSK_SERVER_DATA": str(tmp_path / "server")}
    server = subprocess.run(
        [sys.executable, "-m", "regional_server", "publish-content", str(out), "--trust", pub],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert server.returncode == 0, server.stderr
    assert (tmp_path / "server" / "feeds" / "content" / "manifest.json").is_file()


def test_content_build_refuses_a_folder_kiosks_would_refuse(tmp_path: Path) -> None:
    key, _ = keygen(tmp_path, "content")
    folder = tmp_path / "pack"
    shutil.copytree(active.BUILTIN_DIR / "locales", folder / "locales")
    shutil.copy(active.BUILTIN_DIR / "countries.yaml", folder / "countries.yaml")
    (folder / "locales" / "sw.yaml").unlink()
    done = run_cli(
        [
            "content",
            "build",
            str(folder),
            "--key",
            str(key),
            "--version",
            "1",
            "--out",
            str(tmp_path / "x.signed"),
        ]
    )
    assert done.returncode == 1 and "required locale file is missing" in done.stderr


def test_keys_announce_and_inspect(tmp_path: Path) -> None:
    old, old_pub = keygen(tmp_path, "old")
    _, new_pub = keygen(tmp_path, "new")
    out = tmp_path / "keys-1.signed"
    done = run_cli(
        [
            "keys",
            "announce",
            "--replace",
            old_pub,
            "--new",
            new_pub,
            "--effective",
            "7d",
            "--key",
            str(old),
            "--version",
            "1",
            "--out",
            str(out),
        ]
    )
    assert done.returncode == 0, done.stderr
    done = run_cli(["keys", "inspect", str(out)])
    assert "rotation" in done.stdout and new_pub in done.stdout, done.stdout


def test_settings_build_refuses_local_only_keys(tmp_path: Path) -> None:
    key, _ = keygen(tmp_path, "settings")
    overlay = tmp_path / "o.yaml"
    overlay.write_text("state_dir: /tmp/x\n")
    args = ["settings", "build", str(overlay), "--region", "KE-NBO", "--key", str(key)]
    done = run_cli([*args, "--version", "1", "--out", str(tmp_path / "o.signed")])
    assert done.returncode == 1 and "local-only" in done.stderr
    overlay.write_text("reporting: {offpeak: '01:00-05:00'}\n")
    done = run_cli([*args, "--version", "1", "--out", str(tmp_path / "o.signed")])
    assert done.returncode == 0, done.stderr
    assert "settings-KE-NBO version 1" in done.stdout


def test_config_show_without_overlay(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "s"), "cafe": {"name": "X"}}))
    done = run_cli(["config", "show", "--config", str(config)])
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert lines["cafe.name"].endswith("# agent.yaml")
    assert lines["filter.block_ttl"].endswith("# default")


def test_publish_release_signs_stages_and_promotes(tmp_path: Path) -> None:
    from kiosk_agent.contracts import release, signed_dir
    from tests.installer.fakes import fake_onefile

    key, pub = keygen(tmp_path, "release")
    env = cli_env() | {"KIOSK_SERVER_DATA": str(tmp_path / "server")}

    def server(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "regional_server", *argv],
            capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False,
        )  # fmt: skip

    program = fake_onefile(tmp_path / "kiosk-agent")
    done = server("publish-release", str(program), "--version", "1.2.0", "--key", str(key),
                  "--trust", pub)  # fmt: skip
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "server" / "feeds" / "releases"
    m = signed_dir.read_manifest(folder)
    assert m is not None and m.kind == "release" and m.latest == release.version_number("1.2.0")
    f = release.read_release(
        (folder / m.files[m.latest]).read_bytes(), frozenset({pub}), floor=None, now=time.time()
    )
    assert f.body == program.read_bytes()
    # Never an older or the same version; --key and --version go together.
    done = server("publish-release", str(program), "--version", "1.1.9", "--key", str(key))
    assert done.returncode != 0 and "not newer" in done.stderr
    assert (
        "--key needs --version" in server("publish-release", str(program), "--key", str(key)).stderr
    )
    # Staged for one café, then for everyone.
    done = server("publish-release", str(program), "--version", "1.3.0", "--key", str(key),
                  "--cafe", "Sunrise")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "release release version 1.3.0" in done.stdout
    assert "café 'Sunrise', others stay on 1.2.0" in done.stdout, done.stdout
    assert server("promote", "releases").returncode == 0
    m = signed_dir.read_manifest(folder)
    assert m is not None and m.rollout is None and m.latest == release.version_number("1.3.0")
