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

    from kiosk_agent.control_client import ControlClient
    from kiosk_agent.errors import UserError
    from kiosk_agent.platform import current
    from kiosk_agent.service import Service, ServiceContext, build_components
    from kiosk_agent.ui import UiApp, warm_up

    config = load_config_arg(args)
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create the state folder {config.state_dir}: {e.strerror}"
        ) from None

    ready = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, tuple[asyncio.AbstractEventLoop, Service]] = {}

    def service_thread() -> None:
        async def main() -> None:
            ctx = ServiceContext(config)
            service = Service(ctx, build_components(ctx))
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

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # Tk's loop returns to Python every few ms; unwind cleanly

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        try:
            root = tk.Tk(className="kiosk-agent")
        except tk.TclError as e:
            raise UserError(f"cannot open a window (no display?): {e}") from None
        client = ControlClient.from_config(config)
        app = UiApp(config, client, current(), root=root, with_tray=not args.no_tray)
        warm_up(app.languages)
        app.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop_service()
    return 0
