"""`kiosk-agent status [--json]`: is this kiosk protected? Asks the running service."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="show whether the kiosk is protected",
        description="Ask the running service whether this kiosk is protected, in plain words.",
    )
    add_config_argument(p)
    p.add_argument("--json", action="store_true", help="print the status object as JSON")
    p.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    import json

    from kiosk_agent.errors import UserError
    from kiosk_agent.service.control_client import ControlAuthError, ControlClient, ControlError
    from kiosk_agent.service.control_token import TOKEN_FILE
    from kiosk_agent.service.status import describe

    config = load_config_arg(args)
    token_path = config.state_dir / TOKEN_FILE
    if not token_path.exists():
        raise UserError(
            f"the service does not seem to be running (no {token_path}); "
            "start it with `kiosk-agent service`",
            exit_code=3,
        )
    try:
        status = ControlClient.from_config(config).status()
    except ControlAuthError:
        raise UserError(
            f"the service refused the token in {token_path}; is another service running?", 3
        ) from None
    except ControlError as e:
        raise UserError(f"{e}; is the service running?", exit_code=3) from None
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        print(describe(status))
    return 0 if status.get("protected") else 2
