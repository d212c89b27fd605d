"""`kiosk-agent enroll --server URL --code CODE`: register this kiosk with a regional server."""

from __future__ import annotations

import argparse
from typing import Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg
from kiosk_agent.errors import UserError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "enroll",
        help="register this kiosk with the regional server",
        description=(
            "Register this kiosk with the regional server using a one-time code from the "
            "regional coordinator. The kiosk's public key is sent; the server answers a "
            "pseudonymous kiosk id and the region, which are stored in the state folder."
        ),
    )
    p.add_argument("--server", required=True, metavar="URL", help="the regional server")
    p.add_argument("--code", required=True, help="the one-time enrollment code")
    add_config_argument(p)
    p.set_defaults(handler=_enroll)


def _enroll(args: argparse.Namespace) -> int:
    from kiosk_agent import __version__
    from kiosk_agent.net.clock import clock_for
    from kiosk_agent.net.direct_http import session_for_config
    from kiosk_agent.reporting.identity import EnrollError, enroll

    config = load_config_arg(args)
    server = str(args.server).rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise UserError(f"--server {args.server!r}: expected a URL like https://region.example.org")
    if not str(args.code).strip():
        raise UserError("--code is empty: ask the regional coordinator for a one-time code")
    clock = clock_for(config.state_dir)
    session = session_for_config(config, clock=clock)
    try:
        enrollment = enroll(
            config.state_dir,
            server,
            args.code,
            session,
            now=clock.now(),
            cafe_name=config.cafe.name,
            agent_version=__version__,
        )
    except EnrollError as e:
        raise UserError(str(e)) from None
    finally:
        session.close()
    print(
        f"Enrolled as kiosk {enrollment.kiosk_id} in region {enrollment.region} "
        f"({enrollment.country})."
    )
    _apply_enrollment_overlay(args, config, clock.now())
    if config.reporting.server and config.reporting.server.rstrip("/") != server:
        print(
            f"Note: the config sends reports to {config.reporting.server}, not {server}; "
            "set reporting.server to the server you enrolled with."
        )
    elif not config.reporting.server:
        print(f"Note: set reporting.server: {server} in the config so reports are sent.")
    return 0


def _apply_enrollment_overlay(args: argparse.Namespace, config: Any, now: float) -> None:
    """Apply the region's settings overlay the server handed over, verified like any."""
    from pathlib import Path

    from kiosk_agent import config_overlay
    from kiosk_agent.commands.common import default_config_path
    from kiosk_agent.contracts import keys
    from kiosk_agent.reporting.identity import ENROLL_OVERLAY
    from kiosk_agent.updates.check import apply_overlay, load_trust_state

    path = config.state_dir / ENROLL_OVERLAY
    try:
        data = path.read_bytes()
    except OSError:
        return
    try:
        trust = keys.effective_keys(
            config.updates.settings.trust, load_trust_state(config.state_dir), now
        )
        if not trust:
            print("The region's settings were not applied: updates.settings.trust is empty.")
            return
        local = config_overlay.read_local(Path(args.config or default_config_path()))
        result = apply_overlay(config, local, data, trust, now=now)
    finally:
        path.unlink(missing_ok=True)
    if result.result == "applied":
        print(f"Applied the region's settings (overlay version {result.version}).")
    else:
        print(f"The region's settings were refused ({result.reason}): {result.detail}")
