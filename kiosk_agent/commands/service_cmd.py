"""`kiosk-agent service --config PATH`: run the privileged service until stopped."""

from __future__ import annotations

import argparse
import logging
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
    from kiosk_agent.service.worker import keep_tls_out

    keep_tls_out()  # before asyncio: the service's HTTPS runs in worker processes
    # A stop that is neither the PC shutting down nor the operator's counts as tamper
    # at the next start (kiosk_agent/service/stop_marker.py).
    import asyncio
    import contextlib

    from kiosk_agent import __version__, logs
    from kiosk_agent.errors import UserError
    from kiosk_agent.reporting.events import FeedRejected, TamperDetected
    from kiosk_agent.service.stop_marker import RunRecord
    from kiosk_agent.service.wiring import create_service, private_umask

    config = load_config_arg(args)
    private_umask()
    logs.add_file_log(config.state_dir)  # docs/logging.md
    logs.add_event_log()
    log = logging.getLogger("kiosk_agent.service")
    record = RunRecord(config.state_dir)
    running = False

    async def main() -> None:
        service = create_service(config)
        service.ctx.bus.subscribe(logs.log_notable_event, types=(TamperDetected, FeedRejected))

        def ready() -> None:
            nonlocal running
            running = True
            # After every component started: the counters hear it (stop_marker.py).
            if record.started():
                service.ctx.bus.publish(TamperDetected("service_stopped"))
            print("kiosk-agent service running", flush=True)
            log.info("kiosk-agent %s service running", __version__, extra={"event_log": "start"})

        try:
            await service.run(ready=ready)
        except OSError as e:
            log.error("the service cannot start: %s", e, extra={"event_log": "start"})
            raise UserError(f"the service cannot start: {e}") from None

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except BaseException:
        if running:
            record.stopped(crashed=True)
        raise
    if running:
        record.stopped()
    log.info("kiosk-agent service stopped", extra={"event_log": "stop"})
    print("kiosk-agent service stopped", file=sys.stderr, flush=True)
    return 0
