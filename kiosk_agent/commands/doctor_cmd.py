"""`kiosk-agent doctor`: check everything an installed kiosk needs, say what to do."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "doctor",
        help="check everything this kiosk needs and say what to do",
        description=(
            "Check the service (running, answering), the system DNS (pointed at the "
            "filter), the blocklist (loaded, fresh), the clock, the notice in the desktop "
            "session, text shaping, the regional server and disk space; say in plain words "
            "what is wrong and what to do. Exit 0 only when all is well, 1 otherwise. "
            "Run it as administrator (root)."
        ),
    )
    add_config_argument(p)
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="Linux: read the DNS settings of an install under DIR (tests, packaging)",
    )
    p.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    import json

    from kiosk_agent.platform import current
    from kiosk_agent.service.doctor import all_well, as_json, evaluate, gather, render

    config = load_config_arg(args)
    platform = current()
    if args.root:
        platform.dns_root = args.root  # type: ignore[attr-defined]  # LinuxDns reads it
    checks = evaluate(gather(config, platform))
    if args.json:
        print(json.dumps(as_json(checks), indent=2))
    else:
        print(render(checks))
    return 0 if all_well(checks) else 1
