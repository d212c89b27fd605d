"""`kiosk-agent worker JOB --config PATH`: one job for the service, in a child process.

Hidden from `kiosk-agent --help`: only the service starts it (``kiosk_agent/service/worker.py``).
It reads the job's parameters as one JSON object on stdin and prints its answer as one
JSON object on one line to stdout; log lines go to stderr, which the service relays to
its own log. Jobs: ``feed-check`` (``kiosk_agent.filter.feed_check.feed_check_job``)
and ``upload`` (``kiosk_agent.reporting.component.upload_job``).
"""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument

MAX_PARAMS = 1024 * 1024
JOB_FUNCTIONS = {
    "feed-check": "kiosk_agent.filter.feed_check:feed_check_job",
    "upload": "kiosk_agent.reporting.component:upload_job",
    # The café hub (docs/cafe-hub.md): mirror a feed file, forward held reports, find it.
    "hub-fetch": "kiosk_agent.hub.mirror:mirror_fetch_job",
    "hub-relay": "kiosk_agent.hub.relay:relay_job",
    "hub-find": "kiosk_agent.hub.discovery:find_job",
    "updates-check": "kiosk_agent.updates.check:updates_check_job",
}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "worker",
        # No help=: argparse then leaves it out of the `kiosk-agent --help` listing
        # (help=argparse.SUPPRESS prints "==SUPPRESS==" there on Python 3.11).
        description=(
            "Run one job of the service in a child process (feed check or upload round). "
            "The service starts it; it is not meant to be run by hand."
        ),
    )
    p.add_argument("job", choices=sorted(JOB_FUNCTIONS), help="the job to run")
    add_config_argument(p)
    p.add_argument(
        "--deadline",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="end the process after this many seconds, whatever it is doing (3600)",
    )
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import importlib
    import json
    import logging
    import os
    import sys
    import threading

    from kiosk_agent.commands.common import load_config_arg
    from kiosk_agent.errors import UserError

    # Never outlive the bound, even if the service that started us is gone.
    timer = threading.Timer(max(args.deadline, 1.0), os._exit, (124,))
    timer.daemon = True
    timer.start()
    # stdout carries the answer only: anything else printed goes to stderr.
    answer_to = sys.stdout
    sys.stdout = sys.stderr
    for handler in logging.getLogger().handlers:
        # The service's log adds its own time stamp; the level leads, so it is relayed.
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    raw = sys.stdin.buffer.read(MAX_PARAMS + 1)
    if len(raw) > MAX_PARAMS:
        raise UserError("the job parameters are too long")
    try:
        params = json.loads(raw)
    except ValueError as e:
        raise UserError(f"the job parameters are not JSON: {e}") from None
    if not isinstance(params, dict):
        raise UserError("the job parameters are not a JSON object")
    config = load_config_arg(args)
    module, name = JOB_FUNCTIONS[args.job].split(":")
    job = getattr(importlib.import_module(module), name)
    try:
        result = job(config, params)
    except ValueError as e:  # bad parameters: the service's bug, said plainly
        raise UserError(f"{args.job}: {e}") from None
    answer_to.write(json.dumps(result, separators=(",", ":"), allow_nan=False) + "\n")
    answer_to.flush()
    return 0
