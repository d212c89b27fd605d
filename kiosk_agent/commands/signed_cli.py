"""What the commands that sign, verify, inspect and publish signed files share
(``content``, ``keys``, ``settings``; feed bundles have ``feed_cmd.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk_agent.errors import UserError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kiosk_agent.contracts.signed import SignedFile


def add_sign_arguments(p: argparse.ArgumentParser, *, expires: str) -> None:
    p.add_argument("--key", required=True, metavar="KEYFILE", help="private signing key (PEM)")
    p.add_argument("--version", required=True, type=int, metavar="N", help="new version number")
    p.add_argument("--expires", default=expires, help=f"lifetime, e.g. 365d (default {expires})")
    p.add_argument("--issuer", default="", help="publisher name shown by inspect")
    p.add_argument("--out", required=True, metavar="FILE", help="signed file to write")


def add_publish_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--dir", required=True, metavar="DIR", help="the directory kiosks read")
    p.add_argument("--trust", action="append", metavar="ed25519:KEY", help="also verify")
    p.add_argument(
        "--percent", type=int, metavar="P", help="stage: only P %% of kiosks take it first"
    )
    p.add_argument(
        "--cafe", action="append", default=[], metavar="NAME", help="stage: this café takes it"
    )


def signing(args: argparse.Namespace) -> tuple[Ed25519PrivateKey, int, int]:
    """(key, created, expires) from ``add_sign_arguments``; ``UserError`` when wrong."""
    import time

    from kiosk_agent.config import parse_duration
    from kiosk_agent.contracts.private_key import load_private_key

    key = load_private_key(args.key)
    if args.version < 1:
        raise UserError("--version must be 1 or more")
    try:
        lifetime = parse_duration(args.expires)
    except ValueError:
        raise UserError(f"--expires {args.expires!r}: expected e.g. 365d, 12h") from None
    if lifetime < 60:
        raise UserError("--expires must be at least a minute")
    now = int(time.time())
    return key, now, now + int(lifetime)


def read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None


def when(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def print_claims(path: str, f: SignedFile, size: int) -> None:
    c = f.claims
    print(f"file:         {path} ({size:,} bytes)")
    print(f"kind:         {c.kind}")
    print(f"subject:      {c.subject}")
    print(f"version:      {c.version}")
    print(f"issuer:       {c.issuer}")
    print(f"signing key:  {c.key}  (not verified here: use verify)")
    print(f"created:      {when(c.created)}")
    print(f"expires:      {when(c.expires)}")


def publish(args: argparse.Namespace) -> int:
    from kiosk_agent.contracts import signed, signed_dir

    data = read_file(args.file)
    if args.percent is not None and not 0 <= args.percent <= 100:
        raise UserError("--percent must be 0-100")
    try:
        m = signed_dir.publish(
            Path(args.dir), data, trusted_keys=args.trust, percent=args.percent, cafes=args.cafe
        )
    except (signed.SignedError, signed_dir.ManifestError) as e:
        raise UserError(f"{args.file}: {e}") from None
    print(describe(m, args.dir))
    return 0


def describe(m: Any, where: str) -> str:
    staged = ""
    if m.rollout is not None:
        who = [f"{m.rollout.percent} % of kiosks"] + [f"café {c!r}" for c in m.rollout.cafes]
        staged = f", staged for {' and '.join(who)} (others stay on {m.rollout.stable})"
    return f"published {m.kind} {m.subject} version {m.latest} in {where}{staged}"
