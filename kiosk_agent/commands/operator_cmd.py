"""`kiosk-agent operator unlock`: the administrator clears the operator PIN's lockout."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "operator",
        help="operator recovery on this PC (needs administrator rights)",
        description=(
            "Operator recovery. `unlock` clears the lockout after too many wrong PINs; "
            "run it as root (sudo) or as an administrator on the PC itself."
        ),
    )
    actions = p.add_subparsers(dest="operator_action", metavar="ACTION", required=True)
    unlock = actions.add_parser("unlock", help="clear the operator PIN's lockout")
    add_config_argument(unlock)
    unlock.set_defaults(handler=_unlock)


def _unlock(args: argparse.Namespace) -> int:
    from kiosk_agent.errors import UserError
    from kiosk_agent.installer.steps import is_administrator
    from kiosk_agent.service.pin_lock import clear_lock

    if not is_administrator():
        raise UserError("`kiosk-agent operator unlock` needs administrator rights (sudo)")
    config = load_config_arg(args)
    before = clear_lock(config.state_dir)
    if before.locked_until or before.failures or before.locks:
        print("The operator PIN is unlocked; the service accepts the PIN again.")
    else:
        print("The operator PIN was not locked.")
    return 0
