"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kiosk_agent.config import Config


def default_config_path() -> Path:
    """Where the installer puts the config (``KIOSK_AGENT_CONFIG`` overrides it)."""
    env = os.environ.get("KIOSK_AGENT_CONFIG")
    if env:
        return Path(env)
    from kiosk_agent.platform import is_windows

    if is_windows():
        return Path(r"C:\ProgramData\kiosk-agent\agent.yaml")
    return Path("/etc/kiosk-agent/agent.yaml")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help=f"the agent's config file (default: {default_config_path()})",
    )


def load_config_arg(args: argparse.Namespace) -> Config:
    """The config file with the region's applied settings overlay over it (docs/config.md)."""
    from kiosk_agent.config_overlay import load_effective

    return load_effective(args.config or default_config_path())
