"""The ``kiosk-server`` command: serve, init-db, and the administrator's one-off tasks."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kiosk_agent import __version__
from kiosk_agent.errors import UserError
from regional_server.settings import (
    DEFAULT_CONFIG,
    DEFAULT_DATA_DIR,
    ENV_CONFIG,
    ENV_DATA,
    ENV_TRUSTED_PROXIES,
    Settings,
    SettingsError,
    load_settings,
)

_DURATION = re.compile(r"(\d+)\s*([dhw]?)")


def parse_expiry(value: str) -> int:
    """Seconds from ``30d``, ``12h``, ``2w`` or a number of days."""
    match = _DURATION.fullmatch(value.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise UserError(f"--expires {value!r}: use a duration such as 30d, 12h or 2w")
    unit = {"": 86400, "d": 86400, "h": 3600, "w": 7 * 86400}[match.group(2)]
    return int(match.group(1)) * unit


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        # Through the environment, so that serve's worker processes see it too.
        os.environ[ENV_DATA] = str(Path(args.data_dir).resolve())
    try:
        return load_settings(args.config)
    except SettingsError as e:
        raise UserError(str(e)) from None


def database_place(settings: Settings) -> str:
    """Where the database is, for messages (a PostgreSQL URL without its password)."""
    if settings.is_sqlite:
        return str((settings.data_dir / "server.db").resolve())
    return settings.db_url.split("@")[-1]


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from regional_server.db.engine import make_engine
    from regional_server.db.migrate import upgrade

    try:
        engine = make_engine(settings)
    except OSError as e:
        raise UserError(
            f"cannot use the data folder {settings.data_dir}: {e.strerror}; "
            f"choose one with --data-dir or {ENV_DATA}"
        ) from None
    upgrade(engine)
    print(f"kiosk-server: database {database_place(settings)}", file=sys.stderr)
    return engine


def cmd_init_db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _engine(settings)
    print(f"database ready: {database_place(settings)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.proxy_headers:
        # The app itself reads X-Forwarded-* from these proxies only (``transport``);
        # the workers get the list through the environment, like the config path.
        os.environ[ENV_TRUSTED_PROXIES] = args.forwarded_allow_ips
    settings = _settings(args)
    tls: dict[str, Any] = {}
    if args.tls_key and not args.tls_cert:
        raise UserError("--tls-key needs --tls-cert")
    if args.tls_cert:
        from regional_server.tls import uvicorn_context_factory

        for name in filter(None, (args.tls_cert, args.tls_key)):
            if not Path(name).is_file():
                raise UserError(f"cannot read {name}: no such file")
        tls = {
            "ssl_certfile": args.tls_cert,
            "ssl_keyfile": args.tls_key,
            # uvicorn builds the context in each worker through this factory; it sets
            # the session tickets (none unless tls_session_tickets says so).
            "ssl_context_factory": uvicorn_context_factory(settings.tls_session_tickets),
        }
    _engine(settings).dispose()
    if args.config:
        os.environ[ENV_CONFIG] = str(Path(args.config).resolve())
    uvicorn.run(
        "regional_server.asgi:create_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # The app sets Date itself (also under test clients); uvicorn would add a second.
        date_header=False,
        server_header=False,
        proxy_headers=False,  # done by the app, from trusted_proxies only
        log_level="info",
        access_log=False,
        **tls,
    )
    return 0


def cmd_create_region(args: argparse.Namespace) -> int:
    from regional_server.store.regions import RegionError, create_region

    engine = _engine(_settings(args))
    try:
        with engine.begin() as conn:
            region = create_region(conn, args.code, args.name, args.country, int(time.time()))
    except RegionError as e:
        raise UserError(str(e)) from None
    print(f"region {region.code} ({region.name}, {region.country}) created")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise UserError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_create_user(args: argparse.Namespace) -> int:
    from regional_server.store.users import UserError as AccountError
    from regional_server.store.users import create_user

    settings = _settings(args)
    engine = _engine(settings)
    password = _read_password()
    try:
        with engine.begin() as conn:
            user = create_user(
                conn,
                args.email,
                password,
                args.role,
                args.region or [],
                int(time.time()),
                settings.password_scrypt_n,
            )
    except AccountError as e:
        raise UserError(str(e)) from None
    regions = ", ".join(user.region_codes) or "all regions"
    print(f"{user.role} {user.email} created ({regions})")
    return 0


def cmd_create_code(args: argparse.Namespace) -> int:
    from regional_server.store.codes import MAX_USES, create_code
    from regional_server.store.regions import get_region

    settings = _settings(args)
    engine = _engine(settings)
    if not 1 <= args.uses <= MAX_USES:
        raise UserError(f"--uses must be from 1 to {MAX_USES}")
    lifetime = parse_expiry(args.expires)
    now = int(time.time())
    with engine.begin() as conn:
        region = get_region(conn, args.region)
        if region is None:
            raise UserError(
                f"unknown region {args.region} in {database_place(settings)}; "
                "create it with create-region"
            )
        code = create_code(conn, region.id, args.uses, now + lifetime, now, None)
    print(code)
    return 0


def cmd_publish_feed(args: argparse.Namespace) -> int:
    from regional_server.publish import PublishError, publish_feed

    settings = _settings(args)
    engine = _engine(settings)
    paths = [Path(p) for p in args.bundle]
    try:
        result = publish_feed(engine, settings.feeds_path, paths, int(time.time()), args.trust)
    except PublishError as e:
        raise UserError(str(e)) from None
    print(result)
    return 0


def cmd_publish_signed(args: argparse.Namespace) -> int:
    from regional_server.publish_signed import PublishError, publish_signed

    settings = _settings(args)
    try:
        result = publish_signed(
            settings.feeds_path,
            Path(args.file),
            kind=args.kind,
            trusted_keys=args.trust,
            percent=args.percent,
            cafes=args.cafe,
        )
    except PublishError as e:
        raise UserError(str(e)) from None
    print(result)
    return 0


def cmd_publish_release(args: argparse.Namespace) -> int:
    """Sign the one-file program with the release key (or take a signed release) and
    publish it under /feeds/releases, staged like content packs."""
    import tempfile

    from regional_server.publish_signed import PublishError, publish_signed, sign_release

    settings = _settings(args)
    path = Path(args.file)
    try:
        if args.key is None:
            if args.version is not None:
                raise UserError("--version needs --key (a signed release names its version)")
            result = publish_signed(
                settings.feeds_path, path, kind="release", trusted_keys=args.trust,
                percent=args.percent, cafes=args.cafe,
            )  # fmt: skip
        else:
            if args.version is None:
                raise UserError("--key needs --version (the program's version, like 1.2.3)")
            data = sign_release(
                path, args.version, Path(args.key), expires_in=parse_expiry(args.expires),
                now=int(time.time()),
            )  # fmt: skip
            with tempfile.TemporaryDirectory() as tmp:
                signed_path = Path(tmp) / "release.signed"
                signed_path.write_bytes(data)
                result = publish_signed(
                    settings.feeds_path, signed_path, kind="release", trusted_keys=args.trust,
                    percent=args.percent, cafes=args.cafe,
                )  # fmt: skip
    except PublishError as e:
        raise UserError(str(e)) from None
    print(result)
    return 0


def cmd_send_digest(args: argparse.Namespace) -> int:
    from regional_server.digest import DigestError, send_digests, smtp_sender

    settings = _settings(args)
    try:
        send = smtp_sender(settings)
        engine = _engine(settings)
        outcomes = send_digests(engine, settings, int(time.time()), send, force=args.force)
    except DigestError as e:
        raise UserError(str(e)) from None
    for o in outcomes:
        state = "sent" if o.sent else ("no alert" if not o.alerts else "already sent this week")
        print(f"{o.email}: {o.alerts} alerts, {state}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from regional_server.publish_signed import PublishError, promote

    try:
        print(promote(_settings(args).feeds_path, args.directory))
    except PublishError as e:
        raise UserError(str(e)) from None
    return 0


def cmd_server_key(args: argparse.Namespace) -> int:
    from regional_server.national.push import server_key

    settings = _settings(args)
    try:
        print(server_key(settings.data_dir).public_key_text())
    except OSError as e:
        raise UserError(f"cannot keep the server key in {settings.data_dir}: {e}") from None
    return 0


def cmd_register_child(args: argparse.Namespace) -> int:
    from regional_server.national.children import ChildError, register_child

    engine = _engine(_settings(args))
    try:
        with engine.begin() as conn:
            child = register_child(
                conn, args.name, args.key, args.region or [], args.country or [], int(time.time())
            )
    except ChildError as e:
        raise UserError(str(e)) from None
    scope = " ".join([*sorted(child.regions), *(f"{c}-*" for c in sorted(child.countries))])
    print(f"child server {child.name} registered: may push for {scope}")
    return 0


def cmd_children(args: argparse.Namespace) -> int:
    from regional_server.national.children import list_children, set_active

    engine = _engine(_settings(args))
    with engine.begin() as conn:
        if args.disable or args.enable:
            name = args.disable or args.enable
            if not set_active(conn, name, bool(args.enable)):
                raise UserError(f"no child server named {name!r}")
        for c in list_children(conn):
            last = (
                time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(c.last_push_at))
                if c.last_push_at
                else "never"
            )
            print(
                f"{c.name}\t{'active' if c.active else 'disabled'}\t{c.public_key}\t"
                f"regions: {' '.join(sorted(c.regions)) or '-'}\t"
                f"countries: {' '.join(sorted(c.countries)) or '-'}\tlast push: {last}"
            )
    return 0


def cmd_push_parent(args: argparse.Namespace) -> int:
    from regional_server.national.push import push_parent

    settings = _settings(args)
    if args.parent:
        settings = dataclasses.replace(settings, parent_url=args.parent)
    if not settings.parent_url:
        raise UserError("no parent server: set parent_url in the settings or pass --parent")
    try:
        outcome = push_parent(settings, _engine(settings), attempts=args.attempts)
    except ValueError as e:
        raise UserError(str(e)) from None
    for line in outcome.lines:
        print(line)
    return outcome.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk-server",
        description="The regional server: kiosk enrollment and reports, feeds, dashboard.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=(
            f"YAML settings file (default ${ENV_CONFIG}, else {DEFAULT_CONFIG} if it "
            "exists); KIOSK_SERVER_DB overrides the database URL"
        ),
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"data folder: SQLite database and feeds (default ${ENV_DATA}, else the "
        f"settings file's data_dir, else {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--version", action="version", version=f"kiosk-server {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the server (migrates the database first)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    p.add_argument(
        "--proxy-headers",
        action="store_true",
        help=(
            "behind a reverse proxy: believe X-Forwarded-For and X-Forwarded-Proto from "
            "--forwarded-allow-ips only (sets trusted_proxies)"
        ),
    )
    p.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        metavar="ADDRS",
        help="comma-separated proxy addresses or networks to trust (127.0.0.1)",
    )
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        help=(
            "serve HTTPS with this PEM certificate chain (the key in it or in --tls-key); "
            "no TLS session tickets unless the settings' tls_session_tickets asks"
        ),
    )
    p.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("init-db", help="create or upgrade the database schema")
    p.set_defaults(handler=cmd_init_db)

    p = sub.add_parser("create-region", help="add a region")
    p.add_argument("code", metavar="CODE", help="region code, e.g. KE-NBO")
    p.add_argument("name", metavar="NAME", help="region name, e.g. Nairobi")
    p.add_argument("--country", required=True, metavar="CC", help="ISO country code, e.g. KE")
    p.set_defaults(handler=cmd_create_region)

    p = sub.add_parser(
        "create-user", help="add a user; the password is prompted for or read from stdin"
    )
    p.add_argument("email", metavar="EMAIL")
    p.add_argument("--role", required=True, choices=("admin", "coordinator"))
    p.add_argument(
        "--region", action="append", metavar="CODE", help="a region granted (repeatable)"
    )
    p.set_defaults(handler=cmd_create_user)

    p = sub.add_parser("create-enrollment-code", help="make a one-time code; prints it")
    p.add_argument("--region", required=True, metavar="CODE")
    p.add_argument("--uses", type=int, default=1, help="how many kiosks may use it (1)")
    p.add_argument("--expires", default="30d", help="lifetime such as 30d, 12h, 2w (30d)")
    p.set_defaults(handler=cmd_create_code)

    p = sub.add_parser(
        "publish-feed", help="publish signed bundles (a full one and/or deltas) under /feeds"
    )
    p.add_argument(
        "bundle", metavar="BUNDLEFILE", nargs="+", help="bundles made by kiosk-agent feed build"
    )
    p.add_argument(
        "--trust",
        action="append",
        metavar="ed25519:KEY",
        help="check each bundle's signature against this publisher key (repeatable)",
    )
    p.set_defaults(handler=cmd_publish_feed)

    for kind, what in (
        ("content", "a signed content pack (kiosk-agent content build)"),
        ("settings", "a signed settings overlay for a region (kiosk-agent settings build)"),
        ("keys", "a signed key announcement (kiosk-agent keys announce)"),
    ):
        p = sub.add_parser(f"publish-{kind}", help=f"publish {what} under /feeds")
        p.add_argument("file", metavar="FILE")
        p.add_argument("--trust", action="append", metavar="ed25519:KEY", help="also verify")
        if kind != "keys":  # announcements go to every kiosk: a chain cannot be staged
            p.add_argument(
                "--percent", type=int, metavar="P", help="stage: P %% of kiosks take it first"
            )
            p.add_argument(
                "--cafe", action="append", default=[], metavar="NAME", help="stage: this café"
            )
        p.set_defaults(handler=cmd_publish_signed, kind=kind, percent=None, cafe=[])

    p = sub.add_parser(
        "publish-release",
        help="sign the one-file program with the release key and publish it under /feeds",
    )
    p.add_argument("file", metavar="FILE", help="the one-file program (or a release signed before)")
    p.add_argument("--version", metavar="V", help="the program's version, like 1.2.3")
    p.add_argument("--key", metavar="PEM", help="the release signing key (Ed25519, PEM)")
    p.add_argument("--expires", default="180d", help="how long kiosks accept it (180d)")
    p.add_argument("--trust", action="append", metavar="ed25519:KEY", help="also verify")
    p.add_argument("--percent", type=int, metavar="P", help="stage: P %% of kiosks take it first")
    p.add_argument("--cafe", action="append", default=[], metavar="NAME", help="stage: this café")
    p.set_defaults(handler=cmd_publish_release)

    p = sub.add_parser(
        "send-digest",
        help="e-mail this week's alerts to the users who asked for the digest (run weekly)",
    )
    p.add_argument(
        "--force", action="store_true", help="send again to users who got this week's digest"
    )
    p.set_defaults(handler=cmd_send_digest)

    p = sub.add_parser(
        "server-key", help="print this server's public key (made on first use) for its parent"
    )
    p.set_defaults(handler=cmd_server_key)

    p = sub.add_parser(
        "register-child",
        help="on a parent: accept pushes from a regional server's key for regions/countries",
    )
    p.add_argument("name", metavar="NAME", help="a name for the child server, e.g. kenya-1")
    p.add_argument("--key", required=True, metavar="ed25519:KEY", help="its server-key")
    p.add_argument("--region", action="append", metavar="CODE", help="a region (repeatable)")
    p.add_argument(
        "--country", action="append", metavar="CC", help="every region of a country (repeatable)"
    )
    p.set_defaults(handler=cmd_register_child)

    p = sub.add_parser("children", help="on a parent: list the child servers")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--disable", metavar="NAME", help="refuse this child's pushes")
    group.add_argument("--enable", metavar="NAME", help="accept this child's pushes again")
    p.set_defaults(handler=cmd_children)

    p = sub.add_parser(
        "push-parent",
        help="send each region's published weekly figures to the parent server "
        "(exit 75 when it cannot be reached: run again later)",
    )
    p.add_argument("--parent", metavar="URL", help="the parent's URL (default: parent_url)")
    p.add_argument("--attempts", type=int, default=3, help="tries per region before giving up (3)")
    p.set_defaults(handler=cmd_push_parent)

    p = sub.add_parser("promote", help="end a staged rollout: every kiosk takes the latest")
    p.add_argument("directory", metavar="DIR", help="content, releases or settings-<REGION>")
    p.set_defaults(handler=cmd_promote)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except UserError as e:
        print(f"kiosk-server: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
