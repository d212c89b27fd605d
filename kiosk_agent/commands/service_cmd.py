"""`kiosk-agent service --config PATH`: run the privileged service until stopped."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "service",
        help="run the filter service (resolver, updater, watchdog, control API)",
        description=(
            "Run the privileged service: the local DNS filter, the feed updater, the "
            "tamper watchdogs (DNS settings, browser policies), the block page, the browser "
            "guard's loopback API and the control API. Stops cleanly on "
            "SIGTERM or Ctrl-C."
        ),
    )
    add_config_argument(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from kiosk_agent.worker import keep_tls_out

    keep_tls_out()  # before asyncio: the service's HTTPS runs in worker processes
    import asyncio
    import contextlib

    from kiosk_agent.errors import UserError
    from kiosk_agent.service import create_service

    config = load_config_arg(args)

    async def main() -> None:
        service = create_service(config)
        try:
            await service.run(ready=lambda: print("kiosk-agent service running", flush=True))
        except OSError as e:
            raise UserError(f"the service cannot start: {e}") from None

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    print("kiosk-agent service stopped", file=sys.stderr, flush=True)
    return 0
