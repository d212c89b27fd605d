"""The `kiosk-agent` command: one subcommand module each under ``kiosk_agent/commands/``.

Each command module has ``register(subparsers)`` that only declares arguments; the
work (and heavy imports such as cryptography or requests) happens when the command
runs, so `kiosk-agent ui` stays small in memory. User mistakes raise ``UserError``
or ``ConfigError`` and print a plain message without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from kiosk_agent import __version__
from kiosk_agent.config import ConfigError
from kiosk_agent.errors import UserError

# One line per command module; the order is the order in `kiosk-agent --help`.
COMMAND_MODULES = (
    "kiosk_agent.commands.config_cmd",
    "kiosk_agent.commands.service_cmd",
    "kiosk_agent.commands.status_cmd",
    "kiosk_agent.commands.session_cmd",
    "kiosk_agent.commands.feed_cmd",
    "kiosk_agent.commands.content_cmd",
    "kiosk_agent.commands.keys_cmd",
    "kiosk_agent.commands.settings_cmd",
    "kiosk_agent.commands.notices_cmd",
    "kiosk_agent.commands.enroll_cmd",
    "kiosk_agent.commands.report_cmd",
    "kiosk_agent.commands.install_cmd",
    "kiosk_agent.commands.demo_cmd",
    "kiosk_agent.commands.ui_cmd",
    "kiosk_agent.commands.run_cmd",
    "kiosk_agent.commands.worker_cmd",  # hidden: the service's child processes
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk-agent",
        description=(
            "Safety agent for internet-café PCs: a safety notice at each session start, "
            "hotline blocklists enforced by a local DNS resolver, and anonymized counts "
            "sent to a regional server."
        ),
    )
    parser.add_argument("--version", action="version", version=f"kiosk-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace | None:
    """The parsed arguments, or None after printing help when no command was given.

    The parser for every subcommand is dropped when this returns, so a long-running
    command (`ui` idles for days) does not keep it in memory (about 1.4 MB).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args is None:
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler = args.handler
    try:
        return int(handler(args) or 0)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    except UserError as e:
        print(f"kiosk-agent: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
