"""`kiosk-agent install` / `uninstall` as an operator runs them, into a temporary prefix."""

from __future__ import annotations

import shutil
from pathlib import Path

from kiosk_agent.config import load_config
from tests.conftest import run_cli
from tests.installer.fakes import FAKE_LAUNCHER, fake_onefile

ANSWERS = """\
language: fr
cafe: {name: "Chez Awa", country: SN, region: SN-DK, languages: [fr, en]}
operator_pin: "4821"
server: https://region.example.org
"""


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    answers = tmp_path / "answers.yaml"
    answers.write_text(ANSWERS)
    program = fake_onefile(tmp_path / "kiosk-agent-download")
    return answers, program, tmp_path / "root"


def test_install_then_uninstall_into_a_prefix(tmp_path: Path) -> None:
    answers, program, root = _setup(tmp_path)
    args = ["install", "--root", str(root), "--answers", str(answers), "--program", str(program)]
    done = run_cli(args)
    assert done.returncode == 0, done.stderr
    assert "[10/10] Status" in done.stdout
    assert (root / "opt/kiosk-agent/kiosk-agent").read_bytes() == FAKE_LAUNCHER
    config = load_config(root / "etc/kiosk-agent/agent.yaml")
    assert config.cafe.name == "Chez Awa" and config.filter.manage_system_dns
    assert "Restart=always" in (root / "etc/systemd/system/kiosk-agent.service").read_text()
    if shutil.which("systemctl"):  # offline enable inside the prefix
        assert (
            root / "etc/systemd/system/multi-user.target.wants/kiosk-agent.service"
        ).is_symlink()

    refused = run_cli(["uninstall", "--root", str(root)], input="0000\n1234\n5555\n")
    assert refused.returncode == 1 and "wrong operator PIN" in refused.stderr
    assert (root / "opt/kiosk-agent/kiosk-agent").exists()

    removed = run_cli(["uninstall", "--root", str(root)], input="4821\n")
    assert removed.returncode == 0, removed.stderr
    assert not (root / "opt/kiosk-agent").exists()
    assert not (root / "etc/systemd/system/kiosk-agent.service").exists()
    assert (root / "etc/kiosk-agent/agent.yaml").exists()  # kept without --purge


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    answers, program, root = _setup(tmp_path)
    done = run_cli(
        [
            "install",
            "--dry-run",
            "--root",
            str(root),
            "--answers",
            str(answers),
            "--program",
            str(program),
        ]
    )
    assert done.returncode == 0, done.stderr
    assert "would write /etc/kiosk-agent/agent.yaml" in done.stdout
    assert "nothing was changed" in done.stdout
    assert not root.exists()


def test_bad_answers_file_is_a_plain_error(tmp_path: Path) -> None:
    answers, _program, root = _setup(tmp_path)
    answers.write_text("cafe: {name: X}\n")
    done = run_cli(["install", "--root", str(root), "--answers", str(answers)])
    assert done.returncode == 1
    assert "cafe.country" in done.stderr and "operator_pin: missing" in done.stderr
    assert "Traceback" not in done.stderr
    assert not root.exists()


def test_wizard_without_terminal_input_says_what_to_do(tmp_path: Path) -> None:
    done = run_cli(["install", "--no-gui", "--root", str(tmp_path / "root")], input="")
    assert done.returncode == 1
    assert "--answers" in done.stderr


def test_help() -> None:
    for command in ("install", "uninstall"):
        done = run_cli([command, "--help"])
        assert done.returncode == 0 and "--root" in done.stdout


def test_a_file_that_is_no_program_is_refused(tmp_path: Path) -> None:
    answers, _program, root = _setup(tmp_path)
    other = tmp_path / "kiosk-agent"
    other.write_text("#!/bin/sh\necho pretend\n")
    done = run_cli(
        ["install", "--root", str(root), "--answers", str(answers), "--program", str(other)]
    )
    assert done.returncode == 1 and "not a kiosk-agent one-file program" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "etc/systemd").exists()  # stopped at the first step
