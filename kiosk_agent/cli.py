"""The `kiosk-agent` command: one subcommand module each under ``kiosk_agent/commands/``.

Each command module has ``register(subparsers)`` that only declares arguments; the
work (and heavy imports such as cryptography or requests) happens when the command
runs, so `kiosk-agent ui` stays small in memory. User mistakes raise ``UserError``
or ``ConfigError`` and print a plain message without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from kiosk_agent import __version__
from kiosk_agent.config import ConfigError
from kiosk_agent.errors import UserError
from kiosk_agent.logs import LEVELS, level_from
from kiosk_agent.logs import configure as configure_logging

# One line per command module; the order is the order in `kiosk-agent --help`.
COMMAND_MODULES = (
    "kiosk_agent.commands.config_cmd",
    "kiosk_agent.commands.service_cmd",
    "kiosk_agent.commands.status_cmd",
    "kiosk_agent.commands.logs_cmd",
    "kiosk_agent.commands.doctor_cmd",
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
    "kiosk_agent.commands.operator_cmd",
    "kiosk_agent.commands.update_cmd",
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
    add_log_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for command in _subparsers(parser):
        add_log_options(command, top=False)
    return parser


def add_log_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v``, ``-q`` and ``--log-level``, before or after the subcommand. After it their
    default is "not given" (SUPPRESS), so they do not undo the same option given before."""
    flag_default: Any = False if top else argparse.SUPPRESS
    level_default: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("logging")
    group.add_argument(
        "-v", "--verbose", action="store_true", default=flag_default, help="log debug details"
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=flag_default,
        help="log warnings and errors only",
    )
    group.add_argument(
        "--log-level",
        choices=LEVELS,
        default=level_default,
        help="log level (overrides -v and -q)",
    )


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand's parser, nested ones included (``notices check``)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found.append(child)
                found.extend(_subparsers(child))
    return found


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
    configure_logging(level_from(args.log_level, args.verbose, args.quiet))
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
