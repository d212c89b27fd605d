"""`kiosk-agent demo`: the whole system on loopback (what `make run` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the whole system on loopback: server, feed, service, sessions (make run)",
        description=(
            "Start everything on this machine, unprivileged and on loopback only: a test "
            "upstream DNS responder, a DEMO-signed hotline list, the regional server with a "
            "demo region and coordinator, the kiosk's service (resolver on 127.0.0.1:5353 "
            "or a free port), enrolled; run a few customer sessions, upload the counts and "
            "show them on the dashboard. Runs until Ctrl-C, then removes everything."
        ),
    )
    p.add_argument(
        "--exit-after",
        type=float,
        metavar="SECONDS",
        help="stop by itself this long after the summary (0: at once; for tests)",
    )
    p.add_argument(
        "--workdir", type=Path, metavar="DIR", help="keep everything in DIR (not removed)"
    )
    p.add_argument("--port", type=int, default=5353, help="resolver port to try first (5353)")
    p.add_argument("--no-window", action="store_true", help="the notice as text, even on a display")
    p.add_argument("--json", type=Path, metavar="FILE", help="write what happened as JSON")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import signal
    import sys
    import time

    from kiosk_agent.demo.run import Demo, demo_folder
    from kiosk_agent.errors import UserError

    if getattr(sys, "frozen", False):
        raise UserError(
            "the demo runs the regional server too, which is not in this program: "
            "run `make run` in a source checkout"
        )

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # `kill` or a closed terminal cleans up as Ctrl-C does

    signal.signal(signal.SIGTERM, on_sigterm)
    with demo_folder(args.workdir) as workdir:
        demo = Demo(workdir, resolver_port=args.port, show_window=False if args.no_window else None)
        try:
            report = demo.run()
            if args.json is not None:
                args.json.write_text(json.dumps(dataclasses.asdict(report), indent=2, default=str))
            if args.exit_after is None:
                print("\nRunning. Press Ctrl-C to stop and remove everything.")
                while True:
                    time.sleep(3600)
            elif args.exit_after > 0:
                print(f"\nStopping in {args.exit_after:g} s.")
                time.sleep(args.exit_after)
        except KeyboardInterrupt:
            print("\nStopping.")
        finally:
            demo.cleanup()
    print("demo stopped; everything it started is gone")
    return 0
