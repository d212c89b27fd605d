from __future__ import annotations

from kiosk_agent import __version__
from kiosk_agent.cli import build_parser
from tests.conftest import run_cli


def _subcommand_paths() -> list[list[str]]:
    """Every subcommand path (e.g. ['config', 'check']) declared in the parser."""
    import argparse

    paths: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    paths.append([*prefix, name])
                    walk(child, [*prefix, name])

    walk(build_parser(), [])
    return paths


def test_version() -> None:
    done = run_cli(["--version"])
    assert done.returncode == 0
    assert done.stdout.strip() == f"kiosk-agent {__version__}"


def test_every_subcommand_has_help() -> None:
    paths = _subcommand_paths()
    assert ["config", "check"] in paths
    for path in paths:
        done = run_cli([*path, "--help"])
        assert done.returncode == 0, (path, done.stderr)
        assert "usage: kiosk-agent" in done.stdout


def test_no_command_prints_help() -> None:
    done = run_cli([])
    assert done.returncode == 2
    assert "COMMAND" in done.stdout


def test_user_errors_have_no_traceback() -> None:
    done = run_cli(["config", "check", "/nonexistent/agent.yaml"])
    assert done.returncode == 1
    assert "file not found" in done.stderr
    assert "Traceback" not in done.stderr
