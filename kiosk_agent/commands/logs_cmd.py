"""`kiosk-agent logs`: the last lines of the service's log file (docs/logging.md)."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "logs",
        help="show the last lines of the service's log",
        description=(
            "Print the last lines of the service's log file, <state_dir>/logs/kiosk-agent.log "
            "(rotated at 1 MB, five files kept). Under systemd the same lines are also in "
            "`journalctl -u kiosk-agent`; on Windows start, stop, tamper attempts and feed "
            "failures are also in the Application event log (source kiosk-agent)."
        ),
    )
    add_config_argument(p)
    p.add_argument(
        "-n", "--lines", type=int, default=50, metavar="N", help="how many lines (default 50)"
    )
    p.add_argument("--path", action="store_true", help="print the log file's path only")
    p.set_defaults(handler=_logs)


def _logs(args: argparse.Namespace) -> int:
    from kiosk_agent.errors import UserError
    from kiosk_agent.logs import last_lines, log_files, log_path

    config = load_config_arg(args)
    path = log_path(config.state_dir)
    if args.path:
        print(path)
        return 0
    try:
        files = log_files(config.state_dir)
        if files:
            with open(files[-1], "rb"):
                pass  # unreadable (not administrator): say so instead of printing nothing
    except PermissionError:
        raise UserError(f"cannot read {path}: run this as administrator (root)") from None
    if not files:
        raise UserError(f"no log file yet at {path} (the service writes it when it runs)")
    for line in last_lines(files, max(args.lines, 0)):
        print(line)
    return 0
