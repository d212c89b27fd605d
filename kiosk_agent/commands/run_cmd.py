"""`kiosk-agent run --config PATH`: the service and the UI in one process.

For a single-user Linux desktop and for development. The service's asyncio loop runs
in a background thread; Tk keeps the main thread, as it must. The UI still talks to the
service through the loopback control API, exactly as the two-process setup does, so
both setups exercise the same code.
"""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg

READY_TIMEOUT = 30.0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run the service and the UI in one process (single-user desktop, development)",
        description=(
            "Run the filter service and the desktop UI (notice, tray, toasts) in one process. "
            "On a café PC use `service` (privileged) and `ui` (per user) instead, so the "
            "customer's account cannot stop the filter."
        ),
    )
    add_config_argument(p)
    p.add_argument("--no-tray", action="store_true", help="no tray icon (notice and toasts only)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import threading
    import tkinter as tk

    from kiosk_agent.errors import UserError
    from kiosk_agent.platform import current
    from kiosk_agent.service.control_client import ControlClient
    from kiosk_agent.service.wiring import Service, create_service, private_umask
    from kiosk_agent.ui import UiApp, warm_up

    config = load_config_arg(args)
    private_umask()

    ready = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, tuple[asyncio.AbstractEventLoop, Service]] = {}

    def service_thread() -> None:
        async def main() -> None:
            service = create_service(config)
            holder["service"] = (asyncio.get_running_loop(), service)
            await service.run(ready=ready.set)

        try:
            asyncio.run(main())
        except BaseException as e:  # reported to the main thread, which explains it
            failure.append(e)
            ready.set()

    thread = threading.Thread(target=service_thread, name="kiosk-service", daemon=True)
    thread.start()
    if not ready.wait(READY_TIMEOUT) or failure:
        reason = f": {failure[0]}" if failure else f" within {READY_TIMEOUT:.0f}s"
        raise UserError(f"the service did not start{reason}")

    def stop_service() -> None:
        if "service" in holder:
            loop, service = holder["service"]
            loop.call_soon_threadsafe(service.request_stop)
        thread.join(timeout=15)

    # SIGTERM (and Ctrl-C) end the Tk loop through Tk itself: raising from a signal handler
    # in the middle of Tk's set-up can leave Tcl half-made and the process hanging at exit.
    stop_requested = threading.Event()
    tk_root: list[tk.Tk] = []

    def on_stop_signal(signum: int, frame: object) -> None:
        stop_requested.set()
        for root in tk_root:
            root.after(0, root.quit)  # queued: works even before mainloop has started

    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)
    try:
        try:
            tk_root.append(tk.Tk(className="kiosk-agent"))
        except tk.TclError as e:
            raise UserError(f"cannot open a window (no display?): {e}") from None
        client = ControlClient.from_config(config)
        app = UiApp(config, client, current(), root=tk_root[0], with_tray=not args.no_tray)
        warm_up(app.languages)
        if not stop_requested.is_set():
            app.run()
    finally:
        stop_service()
    return 0
