"""`kiosk-agent config check PATH`: validate a config file and list every problem;
`kiosk-agent config show`: the effective settings and where each came from."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "config", help="check a config file", description="Work with the agent's YAML config."
    )
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = csub.add_parser(
        "check",
        help="validate a config file",
        description="Validate a config file: print every problem (exit 1) or 'config OK'.",
    )
    check.add_argument("path", help="the YAML config file")
    check.set_defaults(handler=_check)
    show = csub.add_parser(
        "show",
        help="print the effective settings and where each came from",
        description=(
            "Print every setting as the agent uses it: from agent.yaml, from the region's "
            "signed settings overlay, or the default."
        ),
    )
    add_config_argument(show)
    show.set_defaults(handler=_show)


def _check(args: argparse.Namespace) -> int:
    from kiosk_agent.config import load_config

    config = load_config(args.path)  # ConfigError is printed by the CLI
    print(f"config OK: {config.source}")
    return 0


def _show(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from kiosk_agent.commands.common import default_config_path
    from kiosk_agent.config import config_from_mapping
    from kiosk_agent.config_overlay import fitting_overlays, origins, read_local, read_overlays

    path = Path(args.config or default_config_path())
    local = read_local(path)
    state_dir = config_from_mapping(local, str(path)).state_dir
    overlays = fitting_overlays(local, state_dir)
    header = [str(path)] + [f"{o.label} from {o.issuer!r}" for o in overlays]
    left_out = [o for o in read_overlays(state_dir) if o not in overlays]
    note = "".join(f"  ({o.label} not applied: it no longer fits agent.yaml)" for o in left_out)
    print("# " + " + ".join(header) + note)
    rows = origins(local, overlays)
    width = max(len(p) for p, _, _ in rows)
    for key_path, value, origin in rows:
        if key_path == "operator.pin_scrypt" and value is not None:
            value = "(set)"
        shown = json.dumps(value, ensure_ascii=False, default=str)
        print(f"{key_path.ljust(width)}  {shown}  # {origin}")
    return 0
