"""`kiosk-agent status [--json]`: is this kiosk protected? Asks the running service."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_CONFIG = (
    r"C:\ProgramData\kiosk-agent\agent.yaml"
    if sys.platform == "win32"
    else "/etc/kiosk-agent/agent.yaml"
)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="show whether the kiosk is protected",
        description="Ask the running service whether this kiosk is protected, in plain words.",
    )
    p.add_argument(
        "--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})"
    )
    p.add_argument("--json", action="store_true", help="print the status object as JSON")
    p.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    import json
    import urllib.error
    import urllib.request

    from kiosk_agent.config import load_config
    from kiosk_agent.control import TOKEN_FILE
    from kiosk_agent.errors import UserError
    from kiosk_agent.status import describe

    config = load_config(args.config)
    token_path = config.state_dir / TOKEN_FILE
    try:
        token = token_path.read_text(encoding="utf-8").strip()
    except OSError:
        raise UserError(
            f"the service does not seem to be running (no {token_path}); "
            "start it with `kiosk-agent service`",
            exit_code=3,
        ) from None
    url = f"http://{config.control.listen}/v1/status"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            status = json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise UserError(f"the service refused the status request (HTTP {e.code})", 3) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise UserError(
            f"the service is not answering at {config.control.listen}: "
            f"{getattr(e, 'reason', e)}; is it running?",
            exit_code=3,
        ) from None
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        print(describe(status))
    return 0 if status.get("protected") else 2
