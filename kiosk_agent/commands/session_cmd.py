"""`kiosk-agent session-start`: the hook café billing software calls when a customer starts.

It reaches the running UI through the service's control API, so the notice appears in
the customer's desktop session even though the billing program runs elsewhere.
"""

from __future__ import annotations

import argparse
from typing import Any


def default_config() -> str:
    """Where an installed agent keeps its config on this OS."""
    from kiosk_agent.platform import is_windows

    return (
        r"C:\ProgramData\kiosk-agent\agent.yaml" if is_windows() else "/etc/kiosk-agent/agent.yaml"
    )


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "session-start",
        help="tell the agent a customer session starts (billing hook)",
        description=(
            "Tell the running agent that a customer session starts: the safety notice is "
            "shown (unless it was shown within notices.min_gap). For café billing software."
        ),
    )
    p.add_argument("--config", default=default_config(), help="agent config (default: %(default)s)")
    p.add_argument(
        "--trigger",
        default="billing_hook",
        choices=("billing_hook", "login", "idle_reset", "agent_start"),
        help="what started the session (default billing_hook)",
    )
    p.set_defaults(handler=_session_start)


def _session_start(args: argparse.Namespace) -> int:
    from kiosk_agent.config import load_config
    from kiosk_agent.control_client import ControlClient, ControlError
    from kiosk_agent.errors import UserError

    config = load_config(args.config)
    try:
        ControlClient.from_config(config).session_start(args.trigger)
    except ControlError as e:
        raise UserError(f"could not reach the agent service: {e}") from None
    print(f"session start sent ({args.trigger})")
    return 0
