"""`kiosk-agent ui --config PATH`: the notice, tray icon and toasts in the user's session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "ui",
        help="run the notice, tray icon and toasts in this desktop session",
        description=(
            "Run in the customer's desktop session: show the safety notice when a session "
            "starts, a tray icon with the protection status, and a toast when a page is "
            "blocked. Talks to `kiosk-agent service` over its loopback control API."
        ),
    )
    add_config_argument(p)
    p.add_argument("--no-tray", action="store_true", help="no tray icon (notice and toasts only)")
    p.add_argument(
        "--no-restart",
        action="store_true",
        help="run the UI in this process; by default a small supervisor runs it and starts "
        "it again after a crash (counted as ui.crashes)",
    )
    p.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    if not args.no_restart:
        return _supervise(args)
    return _run_ui(args)


def _supervise(args: argparse.Namespace) -> int:
    from kiosk_agent.notices.supervisor import Supervisor, child_argv, install_stop_handlers
    from kiosk_agent.reporting.events import Event
    from kiosk_agent.service.control_client import ControlClient, ControlError

    config = load_config_arg(args)
    forwarded = ["--config", args.config] if args.config else []
    if args.no_tray:
        forwarded.append("--no-tray")
    # The UI logs as the supervisor was told to (-v, -q, --log-level before or after `ui`).
    if getattr(args, "log_level", None):
        forwarded += ["--log-level", args.log_level]
    elif getattr(args, "verbose", False):
        forwarded.append("-v")
    elif getattr(args, "quiet", False):
        forwarded.append("-q")

    def report(event: Event) -> None:
        try:
            ControlClient.from_config(config).post_event(event)
        except ControlError as e:
            raise RuntimeError(str(e)) from None

    relaunch = None
    if getattr(sys, "frozen", False):  # an installed release can be switched under us
        from kiosk_agent.notices.supervisor import moved_launcher

        running = [Path(sys.executable)]

        def relaunch() -> list[str] | None:
            moved = moved_launcher(running[0])
            if moved is None:
                return None
            running[0] = moved
            return child_argv(forwarded, executable=str(moved), frozen=True)

    supervisor = Supervisor(child_argv(forwarded), report, relaunch=relaunch)
    install_stop_handlers(supervisor)
    return supervisor.run()


def _run_ui(args: argparse.Namespace) -> int:
    import logging
    import tkinter as tk

    from kiosk_agent.errors import UserError
    from kiosk_agent.notices.supervisor import NO_DISPLAY
    from kiosk_agent.platform import current
    from kiosk_agent.service.control_client import ControlClient, ControlError
    from kiosk_agent.ui import UiApp, limit_malloc_arenas, trim_memory, warm_up

    limit_malloc_arenas()  # before any thread starts

    config = load_config_arg(args)
    try:
        client: ControlClient | None = ControlClient.from_config(config)
    except ControlError as e:
        # The service writes the token when it starts; the notice works without it.
        logging.getLogger(__name__).warning("%s; running without the service", e)
        client = None
    try:
        root = tk.Tk(className="kiosk-agent")
    except tk.TclError as e:
        # NO_DISPLAY tells the supervisor the session is gone: not a crash to restart.
        raise UserError(f"cannot open a window (no display?): {e}", NO_DISPLAY) from None
    app = UiApp(config, client, current(), root=root, with_tray=not args.no_tray)
    warm_up(app.languages)
    root.after(5000, trim_memory)  # after start-up's garbage is freed
    app.run()
    return 0
