"""`kiosk-agent keys announce/inspect/publish`: key announcements (rotation, recovery,
revocation). The ceremony is in docs/keys.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kiosk_agent.commands import signed_cli
from kiosk_agent.errors import UserError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "keys", help="announce a replaced or revoked signing key (docs/keys.md)"
    )
    ksub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    a = ksub.add_parser(
        "announce",
        help="sign an announcement with the old key (rotation) or a root key (recovery)",
    )
    what = a.add_mutually_exclusive_group(required=True)
    what.add_argument("--replace", metavar="ed25519:OLD", help="the key being replaced")
    what.add_argument("--revoke", metavar="ed25519:KEY", help="the key being revoked")
    a.add_argument("--new", metavar="ed25519:NEW", help="the new key (with --replace)")
    a.add_argument(
        "--effective",
        default="0s",
        metavar="DURATION",
        help="from when (from now): the replaced key is refused after it (default: at once)",
    )
    a.add_argument("--note", default="", help="a short note for people")
    # Long: kiosks apply the chain in order, and one that was offline for months must
    # still accept every link of it (docs/keys.md).
    signed_cli.add_sign_arguments(a, expires="3650d")
    a.set_defaults(handler=_announce)
    i = ksub.add_parser("inspect", help="show an announcement (not verified)")
    i.add_argument("file", metavar="FILE")
    i.set_defaults(handler=_inspect)
    pub = ksub.add_parser("publish", help="add an announcement to a keys directory")
    signed_cli.add_publish_arguments(pub)
    pub.set_defaults(handler=signed_cli.publish)


def _announce(args: argparse.Namespace) -> int:
    from kiosk_agent.atomic import write_atomic
    from kiosk_agent.config import parse_duration
    from kiosk_agent.contracts import keys, signed

    key, created, expires = signed_cli.signing(args)
    try:
        effective = created + int(parse_duration(args.effective))
    except ValueError:
        raise UserError(f"--effective {args.effective!r}: expected e.g. 7d or 0s") from None
    if args.replace and not args.new:
        raise UserError("--replace needs --new")
    a = keys.Announcement(
        "replace" if args.replace else "revoke",
        args.replace or args.revoke,
        args.new if args.replace else None,
        effective,
        args.note,
    )
    try:
        data = keys.encode_announcement(
            a,
            key=key,
            issuer=args.issuer or "keys",
            version=args.version,
            created=created,
            expires=expires,
        )
    except signed.SignedError as e:
        raise UserError(str(e)) from None
    write_atomic(Path(args.out), data)
    print(f"wrote {args.out}: {a.action} {a.key} (version {args.version})")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from kiosk_agent.contracts import keys, signed

    data = signed_cli.read_file(args.file)
    try:
        f = signed.read_signed_header(data)
        a = keys.parse_announcement(f.body)
    except signed.SignedError as e:
        raise UserError(f"{args.file}: {e}") from None
    signed_cli.print_claims(args.file, f, len(data))
    print(f"action:       {a.action} {a.key}")
    if a.new_key:
        print(f"new key:      {a.new_key}")
    print(f"effective:    {signed_cli.when(a.effective)}")
    signer = "the key itself (rotation)" if f.claims.key == a.key else "another key (root?)"
    print(f"signed by:    {signer}")
    return 0
