"""`kiosk-agent feed ...`: keys, building, verifying, inspecting, checking, publishing bundles.

These run on a list publisher's machine (keygen, build, publish) and anywhere a bundle
must be looked at (verify, inspect, check). ``inspect`` and ``check`` never print an
entry: a bundle holds hashes only, and they say only what a hash lookup says.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk_agent.contracts.private_key import load_private_key
from kiosk_agent.errors import UserError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kiosk_agent.contracts import feed


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "feed",
        help="build, sign, verify and publish blocklist feed bundles",
        description="Build, sign, verify, inspect and publish hashed blocklist bundles.",
    )
    fsub = p.add_subparsers(dest="feed_command", metavar="ACTION", required=True)

    k = fsub.add_parser(
        "keygen",
        help="create a signing key",
        description="Create an Ed25519 signing key (file mode 0600). The last line printed "
        "is the public key, ed25519:<base64>, for the kiosks' config.",
    )
    k.add_argument("--out", required=True, metavar="KEYFILE", help="private key file to write")
    k.add_argument("--force", action="store_true", help="overwrite an existing key file")
    k.set_defaults(handler=_keygen)

    pk = fsub.add_parser(
        "pubkey",
        help="print a signing key's public key",
        description="Print the public key (ed25519:<base64>) of a private key file.",
    )
    pk.add_argument("--key", required=True, metavar="KEYFILE")
    pk.set_defaults(handler=_pubkey)

    b = fsub.add_parser(
        "build",
        help="build a signed bundle from list files",
        description="Hash and sign list files into a bundle. Each --category NAME=FILE reads "
        "one file (domains, hosts-file lines, ||name^ rules or URLs, one per line). "
        "With --base, the bundle is a delta from that full bundle.",
    )
    b.add_argument("--key", required=True, metavar="KEYFILE", help="private signing key")
    b.add_argument("--list-id", required=True, metavar="ID", help="the list's id, e.g. hotline")
    b.add_argument("--version", required=True, type=int, metavar="N", help="new version number")
    b.add_argument(
        "--category",
        required=True,
        action="append",
        metavar="NAME=SOURCEFILE",
        help="a category and its list file (repeatable)",
    )
    b.add_argument("--expires", default="30d", help="lifetime, e.g. 30d or 12h (default 30d)")
    b.add_argument("--issuer", help="publisher name shown by inspect (default: the list id)")
    b.add_argument("--base", metavar="FULLBUNDLE", help="make a delta from this full bundle")
    b.add_argument(
        "--full-out", metavar="FILE", help="with --base: also write the full bundle (same codes)"
    )
    b.add_argument("--max-bad-lines", type=int, default=1000, metavar="N")
    b.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    b.add_argument("--out", required=True, metavar="FILE", help="bundle file to write")
    b.set_defaults(handler=_build)

    v = fsub.add_parser(
        "verify",
        help="verify a bundle",
        description="Verify a bundle's format, signature and expiry. Exit 0 with a summary, "
        "or 1 with the reason.",
    )
    v.add_argument("file", metavar="FILE")
    v.add_argument("--trust", action="append", required=True, metavar="ed25519:KEY")
    v.add_argument(
        "--applied-version", type=int, metavar="N", help="check as a kiosk at version N would"
    )
    v.set_defaults(handler=_verify)

    i = fsub.add_parser(
        "inspect",
        help="show a bundle's header and counts",
        description="Show a bundle's header and counts (never its entries). Does not verify.",
    )
    i.add_argument("file", metavar="FILE")
    i.set_defaults(handler=_inspect)

    c = fsub.add_parser(
        "check",
        help="look names or URLs up in a bundle",
        description="Verify a bundle and look each name (host rules) or URL (host and page "
        "rules) up: one line each, 'NAME blocked CATEGORY' or 'NAME allowed'.",
    )
    c.add_argument("file", metavar="FILE")
    c.add_argument("--base", metavar="FULL", help="the full bundle a delta FILE applies to")
    c.add_argument("--trust", action="append", required=True, metavar="ed25519:KEY")
    c.add_argument("names", nargs="+", metavar="NAME_OR_URL")
    c.set_defaults(handler=_check)

    pub = fsub.add_parser(
        "publish",
        help="add bundles to a feed directory",
        description="Add a full bundle (and deltas to it) to a feed directory and rewrite its "
        "manifest.json atomically. Files no longer listed are removed.",
    )
    pub.add_argument("bundles", nargs="+", metavar="BUNDLE")
    pub.add_argument("--dir", required=True, metavar="DIR", help="the feed directory")
    pub.add_argument("--trust", action="append", metavar="ed25519:KEY", help="also verify")
    pub.set_defaults(handler=_publish)


# -- keys ---------------------------------------------------------------------------------


def _public_key(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    from kiosk_agent.contracts.feed import public_key_string

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return public_key_string(raw)


def _keygen(args: argparse.Namespace) -> int:
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = Path(args.out)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UserError(f"{path} exists; use --force to replace it") from None
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        os.chmod(path, 0o600)  # also when --force reused a looser file
        f.write(pem)
    print(f"wrote private key {path} (mode 0600): keep it secret, keep a backup")
    print(_public_key(key))
    return 0


def _pubkey(args: argparse.Namespace) -> int:
    print(_public_key(load_private_key(args.key)))
    return 0


# -- build --------------------------------------------------------------------------------


def _parse_categories(specs: list[str]) -> list[tuple[str, Path]]:
    import re

    out: list[tuple[str, Path]] = []
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not file:
            raise UserError(f"--category {spec!r}: expected NAME=SOURCEFILE")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z", name):
            raise UserError(f"--category {name!r}: use letters, digits, '.', '_' or '-'")
        if any(n == name for n, _ in out):
            raise UserError(f"--category {name!r} given twice")
        out.append((name, Path(file)))
    return out


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled, self.shown = label, enabled, False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < 1:
            return
        frac = min(1.0, done / total)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{self.label:<16} [{bar:<30}] {frac:4.0%}")
        sys.stderr.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _read_bundle_file(path: str, trusted: list[str], **kw: Any) -> feed.Bundle:
    from kiosk_agent.contracts import feed

    p = Path(path)
    if not p.is_file():
        raise UserError(f"bundle file not found: {path}")
    try:
        return feed.read_bundle(p, trusted, **kw)
    except feed.FeedError as e:
        raise UserError(f"{path}: rejected ({e.code}): {e}") from None


def _build(args: argparse.Namespace) -> int:
    import time

    from kiosk_agent.atomic import write_atomic
    from kiosk_agent.config import parse_duration
    from kiosk_agent.contracts import feed
    from kiosk_agent.filter import sources

    key = load_private_key(args.key)
    pub = _public_key(key)
    if not feed._TOKEN.match(args.list_id):
        raise UserError(f"--list-id {args.list_id!r}: use letters, digits, '.', '_' or '-'")
    if args.version < 1:
        raise UserError("--version must be 1 or more")
    try:
        lifetime = parse_duration(args.expires)
    except ValueError:
        raise UserError(f"--expires {args.expires!r}: expected e.g. 30d, 12h") from None
    if lifetime < 60:
        raise UserError("--expires must be at least a minute")
    if args.full_out and not args.base:
        raise UserError("--full-out goes with --base")
    cats = _parse_categories(args.category)
    base: feed.Bundle | None = None
    if args.base:
        base = _read_bundle_file(args.base, [pub], now=0)
        if base.header.is_delta:
            raise UserError(f"--base {args.base} is a delta; give the full bundle")
        if base.header.list_id != args.list_id:
            raise UserError(f"--base is for list {base.header.list_id!r}, not {args.list_id!r}")
        if args.version <= base.header.version:
            raise UserError(f"--version must be newer than the base's {base.header.version}")
    categories = feed.align_categories(
        base.header.categories if base else (), [name for name, _ in cats]
    )
    show = sys.stderr.isatty() if args.progress is None else args.progress
    results: dict[str, sources.SourceResult] = {}
    for name, path in cats:
        bar = _Progress(name, show)
        try:
            res = sources.read_source_file(path, max_bad_lines=args.max_bad_lines, progress=bar)
        except sources.SourceError as e:
            bar.end()
            raise UserError(f"{path}: {e}") from None
        bar.end()
        for bad in res.bad_lines[:20]:
            print(f"{path}:{bad.number}: skipped: {bad.reason}", file=sys.stderr)
        if len(res.bad_lines) > 20:
            print(f"{path}: ... and {len(res.bad_lines) - 20} more bad lines", file=sys.stderr)
        results[name] = res
    entries = sources.entries_from_sources(categories, results)
    now = int(time.time())
    common: dict[str, Any] = {
        "key": key,
        "issuer": args.issuer or args.list_id,
        "list_id": args.list_id,
        "version": args.version,
        "created": now,
        "expires": now + int(lifetime),
    }
    if base is not None:
        data = feed.encode_delta(
            base.entries(), entries, base_version=base.header.version, **common
        )
        if args.full_out:
            write_atomic(args.full_out, feed.encode_full(entries, **common))
    else:
        data = feed.encode_full(entries, **common)
    write_atomic(args.out, data)
    header = feed.read_header(data)
    kind = f"delta from v{header.base_version}" if header.is_delta else "full"
    changes = (
        f"+{header.added:,} -{header.removed:,} entries"
        if header.is_delta
        else f"{header.added:,} entries"
    )
    per = len(data) / max(1, header.added + header.removed)
    print(
        f"wrote {args.out}: {args.list_id} v{args.version} {kind}, {changes}, "
        f"{len(data):,} bytes ({per:.2f} bytes/entry)"
    )
    return 0


# -- reading ------------------------------------------------------------------------------


def _when(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _summary(h: feed.BundleHeader) -> str:
    kind = f"delta v{h.base_version}->v{h.version}" if h.is_delta else f"v{h.version} full"
    n = f"+{h.added:,} -{h.removed:,} entries" if h.is_delta else f"{h.added:,} entries"
    return (
        f"{h.list_id} {kind}, {n}, {len(h.categories)} categories, issuer {h.issuer!r}, "
        f"expires {_when(h.expires)}"
    )


def _verify(args: argparse.Namespace) -> int:
    from kiosk_agent.contracts import feed

    try:
        bundle = feed.read_bundle(Path(args.file), args.trust, applied_version=args.applied_version)
    except feed.FeedError as e:
        print(f"REJECTED {args.file}: {e.code}: {e}")
        return 1
    except OSError as e:
        raise UserError(f"cannot read {args.file}: {e.strerror}") from None
    print(f"OK {args.file}: {_summary(bundle.header)}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import os

    from kiosk_agent.contracts import feed

    try:
        h = feed.read_header(Path(args.file))
    except feed.FeedError as e:
        raise UserError(f"{args.file}: {e.code}: {e}") from None
    size = os.path.getsize(args.file)
    suspects = h.count(feed.SUSPECT)
    print(f"file:         {args.file} ({size:,} bytes)")
    print(f"format:       {h.format}")
    print(f"list:         {h.list_id}")
    print(f"version:      {h.version}")
    print(f"kind:         {'delta from version ' + str(h.base_version) if h.is_delta else 'full'}")
    print(f"issuer:       {h.issuer}")
    print(f"signing key:  {h.key}  (not verified here: use 'feed verify')")
    print(f"created:      {_when(h.created)}")
    print(f"expires:      {_when(h.expires)}")
    print(f"hashes:       {h.hash_params['alg']} truncated to {h.hash_params['bytes']} bytes")
    print(f"entries:      {h.result_count:,} after applying")
    if h.is_delta:
        print(f"changes:      +{h.added:,} -{h.removed:,}")
    print("categories:")
    for c in h.categories:
        counts = f"{h.count(c.code):,}"
        if h.is_delta:
            counts = f"+{h.count(c.code):,} -{h.count(c.code, 'remove'):,}"
        print(f"  {c.code:>3} {c.id:<16} {c.action:<6} {counts:>14}  {c.name}")
    if suspects or h.count(feed.SUSPECT, "remove"):
        print(f"suspect hosts (hosts with page-level entries): {suspects:,}")
    entries = h.added + h.removed
    if entries:
        print(f"size:         {size / entries:.2f} bytes per entry")
    return 0


def _check(args: argparse.Namespace) -> int:
    import tempfile

    from kiosk_agent.contracts import feed
    from kiosk_agent.filter import index

    bundles: list[feed.Bundle] = []
    if args.base:
        bundles.append(_read_bundle_file(args.base, args.trust))
        if bundles[0].header.is_delta:
            raise UserError(f"--base {args.base} is a delta; give the full bundle")
    applied = bundles[0].header.version if bundles else None
    bundles.append(_read_bundle_file(args.file, args.trust, applied_version=applied))
    if bundles[0].header.is_delta:
        raise UserError(f"{args.file} is a delta: give its full bundle with --base")
    with tempfile.TemporaryDirectory(prefix="kiosk-feed-check-") as tmp:
        path = Path(tmp) / "check.idx"
        try:
            index.build_index(path, bundles)
        except feed.FeedError as e:
            raise UserError(f"cannot apply: {e.code}: {e}") from None
        with index.BlocklistIndex.open(path) as idx:
            for name in args.names:
                is_url = "/" in name or "?" in name
                cat = idx.lookup_url(name) if is_url else idx.lookup_host(name)
                print(f"{name} blocked {cat}" if cat else f"{name} allowed")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from kiosk_agent.contracts import feed, manifest

    datas = []
    for b in args.bundles:
        try:
            datas.append(Path(b).read_bytes())
        except OSError as e:
            raise UserError(f"cannot read {b}: {e.strerror}") from None
    try:
        m = manifest.publish(args.dir, datas, trusted_keys=args.trust)
    except (manifest.PublishError, manifest.ManifestError) as e:
        raise UserError(str(e)) from None
    except feed.FeedError as e:
        raise UserError(f"rejected ({e.code}): {e}") from None
    deltas = ", ".join(f"from v{b}" for b in sorted(m.deltas)) or "none"
    print(f"published {m.list_id} v{m.latest} in {args.dir}: {m.full}; deltas: {deltas}")
    return 0
