"""`kiosk-agent update`: the operator postpones a program update; the service's switch helper.

``postpone`` asks the running service (control API, with the operator PIN and its
lockout) to hold program updates for a day. ``apply-release`` is what the service starts
when a release is staged (docs/fleet.md, "Program releases"); an administrator may run
it too, to switch to a staged release now.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "update",
        help="program updates: postpone one for a day (operator PIN)",
        description=(
            "Program updates from the regional server. `postpone` holds them for a day "
            "(needs the operator PIN); `apply-release` switches to a staged release (the "
            "service starts it; docs/fleet.md)."
        ),
    )
    actions = p.add_subparsers(dest="update_action", metavar="ACTION", required=True)
    postpone = actions.add_parser("postpone", help="hold program updates for a day (PIN)")
    add_config_argument(postpone)
    postpone.add_argument(
        "--pin-stdin", action="store_true", help="read the PIN from standard input"
    )
    postpone.set_defaults(handler=_postpone)
    apply = actions.add_parser(
        "apply-release", help="switch to the staged release (started by the service)"
    )
    add_config_argument(apply)
    apply.set_defaults(handler=_apply_release)


def _read_pin(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    import getpass

    return getpass.getpass("Operator PIN: ")


def _postpone(args: argparse.Namespace) -> int:
    import time

    from kiosk_agent.errors import UserError
    from kiosk_agent.service.control_client import ControlClient, ControlError

    config = load_config_arg(args)
    client = ControlClient.from_config(config)
    try:
        answer = client.postpone_update(_read_pin(args.pin_stdin))
    except ControlError as e:
        raise UserError(f"the service refused: {e}") from None
    until = answer.get("until")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(until)) if until else "tomorrow"
    print(f"Program updates are postponed until {when}.")
    return 0


def _apply_release(args: argparse.Namespace) -> int:
    import logging

    from kiosk_agent.errors import UserError
    from kiosk_agent.service.worker import config_file
    from kiosk_agent.updates.service_control import control_for
    from kiosk_agent.updates.switch import Switch

    config = load_config_arg(args)
    control = control_for(config)
    if control is None:
        raise UserError("program updates are off here (not an installed release on Linux)")
    from kiosk_agent.updates import release_state

    # The helper runs detached, with no terminal: its steps go to a file in the state
    # folder (`kiosk-agent logs` shows the service's side).
    folder = release_state.folder(config.state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / "switch.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("kiosk_agent")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    state = Switch(config, control, config_path=config_file(config.source)).run()
    print(f"program switch: {state.phase}, applied release {state.applied}")
    return 0
