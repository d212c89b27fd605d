"""`kiosk-agent content build/verify/inspect/publish/promote`: signed content packs.

The same shape as `kiosk-agent feed ...`. A pack is built from a folder translators edit
(``locales/*.yaml``, ``countries.yaml``, optional ``images/``); ``build`` refuses a
folder that fails the ``notices check`` text rules, as a kiosk would. docs/content.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kiosk_agent.commands import signed_cli
from kiosk_agent.errors import UserError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "content", help="build, check and publish signed content packs (texts, helplines)"
    )
    csub = p.add_subparsers(dest="content_command", metavar="ACTION", required=True)
    b = csub.add_parser("build", help="sign a pack from a folder of locale YAML files")
    b.add_argument(
        "folder",
        nargs="?",
        metavar="FOLDER",
        help="folder with locales/, countries.yaml, images/ (default: the built-in content)",
    )
    signed_cli.add_sign_arguments(b, expires="365d")
    b.set_defaults(handler=_build)
    v = csub.add_parser("verify", help="verify a pack's signature, expiry and texts")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--trust", action="append", required=True, metavar="ed25519:KEY")
    v.add_argument("--applied-version", type=int, metavar="N", help="refuse N or older")
    v.set_defaults(handler=_verify)
    i = csub.add_parser("inspect", help="show what a pack says about itself (not verified)")
    i.add_argument("file", metavar="FILE")
    i.set_defaults(handler=_inspect)
    pub = csub.add_parser("publish", help="add a pack to a content directory (staged or not)")
    signed_cli.add_publish_arguments(pub)
    pub.set_defaults(handler=signed_cli.publish)
    pr = csub.add_parser("promote", help="end a staged rollout: every kiosk takes the latest")
    pr.add_argument("--dir", required=True, metavar="DIR")
    pr.set_defaults(handler=_promote)


def _build(args: argparse.Namespace) -> int:
    from kiosk_agent.atomic import write_atomic
    from kiosk_agent.content import pack
    from kiosk_agent.content.active import BUILTIN_DIR
    from kiosk_agent.contracts import signed

    key, created, expires = signed_cli.signing(args)
    folder = Path(args.folder) if args.folder else BUILTIN_DIR
    try:
        files = pack.collect(folder)
    except pack.PackError as e:
        raise UserError(str(e)) from None
    problems = pack.folder_problems(folder)
    if problems:
        raise UserError(
            f"{folder} fails the content checks (kiosks would refuse it):\n  "
            + "\n  ".join(problems)
        )
    data = signed.encode_signed(
        key=key,
        kind=pack.KIND,
        issuer=args.issuer or "content",
        subject=pack.SUBJECT,
        version=args.version,
        created=created,
        expires=expires,
        body=pack.encode_body(files),
        meta={"locales": sorted(files.locales), "images": sorted(files.images)},
    )
    write_atomic(Path(args.out), data)
    print(
        f"wrote {args.out}: content pack version {args.version}, {len(files.locales)} locales, "
        f"{len(files.images)} images, {len(data):,} bytes, expires {signed_cli.when(expires)}"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from kiosk_agent.content import pack
    from kiosk_agent.contracts import signed
    from kiosk_agent.updates.check import shipped_glyphs

    data = signed_cli.read_file(args.file)
    try:
        # The same checks as a kiosk: a pack its fonts cannot draw is refused there.
        version, files = pack.verify_pack(
            data, args.trust, applied=args.applied_version, now=_now(), glyphs=shipped_glyphs
        )
    except signed.SignedError as e:
        print(f"REJECTED {args.file}: {e.code}: {e}")
        return 1
    print(f"OK {args.file}: content pack version {version}, {len(files.locales)} locales")
    return 0


def _now() -> float:
    import time

    return time.time()


def _inspect(args: argparse.Namespace) -> int:
    from kiosk_agent.content import pack
    from kiosk_agent.content.countries import CountriesError, parse_countries
    from kiosk_agent.contracts import signed

    data = signed_cli.read_file(args.file)
    try:
        f = signed.read_signed_header(data)
        files = pack.parse_body(f.body)
    except (signed.SignedError, pack.PackError) as e:
        raise UserError(f"{args.file}: {e}") from None
    signed_cli.print_claims(args.file, f, len(data))
    print(f"locales:      {', '.join(sorted(files.locales))}")
    try:
        countries = f"{len(parse_countries(files.countries))} countries"
    except CountriesError as e:
        countries = f"unreadable ({e})"
    print(f"countries:    {countries}")
    print(f"images:       {', '.join(sorted(files.images)) or 'none'}")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from kiosk_agent.contracts import signed_dir

    try:
        m = signed_dir.promote(Path(args.dir))
    except signed_dir.ManifestError as e:
        raise UserError(str(e)) from None
    print(signed_cli.describe(m, args.dir))
    return 0
