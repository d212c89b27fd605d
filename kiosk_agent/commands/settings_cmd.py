"""`kiosk-agent settings build/verify/inspect/publish`: a region's signed settings overlay.

The overlay is a YAML file in the shape of agent.yaml holding only keys marked
overlayable in ``kiosk_agent/config.py`` (docs/config.md); ``build`` refuses anything
else, as kiosks would.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kiosk_agent.commands import signed_cli
from kiosk_agent.errors import UserError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "settings", help="build, check and publish a region's signed settings overlay"
    )
    ssub = p.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    b = ssub.add_parser("build", help="sign an overlay YAML file for a region")
    b.add_argument("overlay", metavar="OVERLAY.yaml")
    b.add_argument("--region", required=True, metavar="CODE", help="the region, e.g. KE-NBO")
    b.add_argument(
        "--cafe", metavar="NAME", help="a café's own overlay (laid over the region's), by name"
    )
    signed_cli.add_sign_arguments(b, expires="365d")
    b.set_defaults(handler=_build)
    v = ssub.add_parser("verify", help="verify an overlay's signature and keys")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--trust", action="append", required=True, metavar="ed25519:KEY")
    v.set_defaults(handler=_verify)
    i = ssub.add_parser("inspect", help="show an overlay (not verified)")
    i.add_argument("file", metavar="FILE")
    i.set_defaults(handler=_inspect)
    pub = ssub.add_parser("publish", help="add an overlay to a settings directory")
    signed_cli.add_publish_arguments(pub)
    pub.set_defaults(handler=signed_cli.publish)


def _settings(body: bytes) -> dict[str, Any]:
    from kiosk_agent.config import ConfigError
    from kiosk_agent.config_overlay import Overlay, effective_config, parse_overlay_text

    try:
        data = parse_overlay_text(body)
        effective_config({}, Overlay(1, "check", "check", data))
    except (ValueError, ConfigError) as e:
        raise UserError(f"kiosks would refuse this overlay: {e}") from None
    return data


def _build(args: argparse.Namespace) -> int:
    from kiosk_agent.atomic import write_atomic
    from kiosk_agent.contracts import signed, signed_dir

    key, created, expires = signed_cli.signing(args)
    body = signed_cli.read_file(args.overlay)
    data = _settings(body)
    subject = (
        signed_dir.cafe_settings_subject(args.region, args.cafe)
        if args.cafe
        else signed_dir.settings_subject(args.region)
    )
    out = signed.encode_signed(
        key=key,
        kind="settings",
        issuer=args.issuer or args.region,
        subject=subject,
        version=args.version,
        created=created,
        expires=expires,
        body=body,
    )
    write_atomic(Path(args.out), out)
    print(f"wrote {args.out}: {subject} version {args.version}, keys: {', '.join(sorted(data))}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    import time

    from kiosk_agent.contracts import signed

    data = signed_cli.read_file(args.file)
    try:
        f = signed.read_signed(data, args.trust, kind="settings", now=time.time())
    except signed.SignedError as e:
        print(f"REJECTED {args.file}: {e.code}: {e}")
        return 1
    _settings(f.body)
    print(f"OK {args.file}: {f.claims.subject} version {f.claims.version}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from kiosk_agent.contracts import signed

    data = signed_cli.read_file(args.file)
    try:
        f = signed.read_signed_header(data)
    except signed.SignedError as e:
        raise UserError(f"{args.file}: {e}") from None
    signed_cli.print_claims(args.file, f, len(data))
    print("settings:")
    print(f.body.decode("utf-8", errors="replace").rstrip())
    return 0
