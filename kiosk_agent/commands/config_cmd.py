"""`kiosk-agent config check PATH`: validate a config file and list every problem."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "config", help="check a config file", description="Work with the agent's YAML config."
    )
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = csub.add_parser(
        "check",
        help="validate a config file",
        description="Validate a config file: print every problem (exit 1) or 'config OK'.",
    )
    check.add_argument("path", help="the YAML config file")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from kiosk_agent.config import load_config

    config = load_config(args.path)  # ConfigError is printed by the CLI
    print(f"config OK: {config.source}")
    return 0
