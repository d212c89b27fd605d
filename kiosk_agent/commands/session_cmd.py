"""`kiosk-agent session-start`: the hook café billing software calls when a customer starts.

It reaches the running UI through the service's control API, so the notice appears in
the customer's desktop session even though the billing program runs elsewhere.
"""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "session-start",
        help="tell the agent a customer session starts (billing hook)",
        description=(
            "Tell the running agent that a customer session starts: the safety notice is "
            "shown (unless it was shown within notices.min_gap). For café billing software."
        ),
    )
    add_config_argument(p)
    p.add_argument(
        "--trigger",
        default="billing_hook",
        choices=("billing_hook", "login", "idle_reset", "agent_start"),
        help="what started the session (default billing_hook)",
    )
    p.set_defaults(handler=_session_start)


def _session_start(args: argparse.Namespace) -> int:
    from kiosk_agent.errors import UserError
    from kiosk_agent.service.control_client import ControlClient, ControlError

    config = load_config_arg(args)
    try:
        ControlClient.from_config(config).session_start(args.trigger)
    except ControlError as e:
        raise UserError(f"could not reach the agent service: {e}") from None
    print(f"session start sent ({args.trigger})")
    return 0
