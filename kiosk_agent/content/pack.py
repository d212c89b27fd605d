"""Signed content packs: the notice texts, countries file, block page texts and images.

A pack is a signed file (``contracts/signed.py``) of kind ``content``, subject
``content``. Its body is gzip-compressed JSON::

    {"format": 1, "locales": {"en": "<en.yaml text>", ...},
     "countries": "<countries.yaml text>", "images": {"logo.png": "<base64>"}}

It is built from a folder laid out like ``kiosk_agent/content/`` (``locales/*.yaml``,
``countries.yaml``, optional ``images/``): the folder translators edit. The program's
built-in pack is that folder in the repository. A kiosk applies a newer pack only when
the signature, expiry and version are good **and** the texts pass the checks of
``notices check`` (``content/check.py``: every required locale and key, placeholders as
in English, tips count; ``countries.yaml`` with a source for every entry) and, given
``glyphs`` (the kiosk passes the ``notices check`` font rule: content/ may not import
notices/), every character has a glyph in the fonts the program ships; otherwise it
keeps the pack it has (``install_pack``). docs/content.md has the reasons.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_atomic, write_text_atomic
from kiosk_agent.content.active import CURRENT, packs_dir, read_pointer
from kiosk_agent.content.check import check_content
from kiosk_agent.content.countries import CountriesError, parse_countries
from kiosk_agent.content.locales import Locale, LocaleError, parse_locale

KIND = "content"
SUBJECT = "content"
FORMAT = 1
MAX_BODY = 16 * 1024 * 1024
MAX_INFLATED = 32 * 1024 * 1024
MAX_IMAGE = 2 * 1024 * 1024
_LOCALE = re.compile(r"^[a-z]{2,3}\Z")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(png|gif)\Z")


class PackError(ValueError):
    """A pack body that is not in the documented shape, or whose texts fail the checks;
    ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:5]) + (
            f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        super().__init__(shown)


@dataclass(frozen=True)
class PackFiles:
    """The files of a pack, as text (locales, countries) and bytes (images)."""

    locales: Mapping[str, str]
    countries: str
    images: Mapping[str, bytes] = field(default_factory=dict)


def collect(folder: Path) -> PackFiles:
    """The files of a pack folder (``locales/*.yaml``, ``countries.yaml``, ``images/``)."""
    locales_dir = folder / "locales"
    if not locales_dir.is_dir():
        raise PackError([f"{folder} has no locales/ folder"])
    try:
        locales = {p.stem: p.read_text("utf-8") for p in sorted(locales_dir.glob("*.yaml"))}
        countries = (folder / "countries.yaml").read_text("utf-8")
        images = {
            p.name: p.read_bytes()
            for p in sorted((folder / "images").glob("*"))
            if (folder / "images").is_dir() and p.is_file()
        }
    except (OSError, UnicodeDecodeError) as e:
        raise PackError([f"cannot read the pack folder: {e}"]) from None
    return PackFiles(locales, countries, images)


def encode_body(files: PackFiles) -> bytes:
    """The pack body (same files, same bytes: gzip without a time stamp)."""
    obj = {
        "format": FORMAT,
        "locales": dict(sorted(files.locales.items())),
        "countries": files.countries,
        "images": {n: base64.b64encode(b).decode() for n, b in sorted(files.images.items())},
    }
    raw = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return gzip.compress(raw, compresslevel=9, mtime=0)


def parse_body(body: bytes) -> PackFiles:
    """A pack body as its files; ``PackError`` for anything outside the documented shape
    (never a path: names are locale codes and plain image names)."""
    if len(body) > MAX_BODY:
        raise PackError(["pack larger than allowed"])
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = d.decompress(body, MAX_INFLATED + 1)
    except zlib.error:
        raise PackError(["pack body is not gzip"]) from None
    if len(raw) > MAX_INFLATED:
        raise PackError(["pack inflates to more than allowed"])
    if not d.eof or d.unused_data:
        raise PackError(["pack body is truncated or has bytes after it"])
    try:
        obj: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PackError(["pack body is not JSON"]) from None
    problems: list[str] = []
    if not isinstance(obj, dict) or set(obj) != {"format", "locales", "countries", "images"}:
        raise PackError(["pack body must have exactly format, locales, countries, images"])
    if obj["format"] != FORMAT:
        raise PackError([f"unknown pack format {obj['format']!r}"])
    locales, countries, images = obj["locales"], obj["countries"], obj["images"]
    if not isinstance(locales, dict) or not isinstance(countries, str):
        raise PackError(["locales must be an object and countries text"])
    if not isinstance(images, dict):
        raise PackError(["images must be an object"])
    for code, text in locales.items():
        if not _LOCALE.match(code) or not isinstance(text, str):
            problems.append(f"locales: {code[:20]!r} is not a locale code with text")
    out_images: dict[str, bytes] = {}
    for name, data in images.items():
        if not _IMAGE.match(name) or not isinstance(data, str):
            problems.append(f"images: {name[:40]!r} is not a plain .png/.gif name")
            continue
        try:
            blob = base64.b64decode(data, validate=True)
        except ValueError:
            problems.append(f"images: {name} is not base64")
            continue
        if len(blob) > MAX_IMAGE:
            problems.append(f"images: {name} is larger than {MAX_IMAGE} bytes")
        out_images[name] = blob
    if problems:
        raise PackError(problems)
    return PackFiles(dict(locales), countries, out_images)


def write_files(files: PackFiles, folder: Path) -> None:
    """Lay the files out as a pack folder (the layout ``collect`` reads)."""
    (folder / "locales").mkdir(parents=True, exist_ok=True)
    for code, text in files.locales.items():
        (folder / "locales" / f"{code}.yaml").write_text(text, encoding="utf-8")
    (folder / "countries.yaml").write_text(files.countries, encoding="utf-8")
    if files.images:
        (folder / "images").mkdir(exist_ok=True)
        for name, blob in files.images.items():
            (folder / "images" / name).write_bytes(blob)


def folder_problems(folder: Path) -> list[str]:
    """The ``notices check`` text rules over a pack folder, one line per problem."""
    problems = [
        f"{row.code}: {p}"
        for row in check_content(directory=folder / "locales")
        for p in row.problems
    ]
    try:
        parse_countries((folder / "countries.yaml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, CountriesError) as e:
        problems.append(f"countries.yaml: {e}")
    return problems


def check_files(files: PackFiles) -> list[str]:
    """``folder_problems`` for files not yet on disk (checked in a scratch folder)."""
    with tempfile.TemporaryDirectory(prefix="kiosk-pack-") as tmp:
        write_files(files, Path(tmp))
        return folder_problems(Path(tmp))


# -- the applied pack on a kiosk ----------------------------------------------------------


def applied_version(state_dir: Path) -> int | None:
    """The version of the pack applied on this kiosk (None: the built-in pack)."""
    pointer = read_pointer(state_dir)
    return pointer[0] if pointer else None


def install_files(state_dir: Path, version: int, files: PackFiles) -> Path:
    """Write a checked pack as ``state_dir/content/v<N>/`` and point ``current.json`` at
    it (the folder first, the pointer last, atomically): a reader sees the old pack or the
    new one, whole. Folders older than the previous pack are removed."""
    root = packs_dir(state_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"v{version}"
    scratch = Path(tempfile.mkdtemp(prefix=f".v{version}.", dir=root))
    try:
        # Public texts the UI (another account) reads: world-readable, unlike mkdtemp's 0700
        # (the state folder itself decides who may reach it, docs/content.md).
        write_files(files, scratch)
        for path in [scratch, *scratch.rglob("*")]:  # whatever the service's umask
            path.chmod(0o755 if path.is_dir() else 0o644)
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    previous = read_pointer(state_dir)
    write_text_atomic(root / CURRENT, json.dumps({"version": version, "dir": target.name}) + "\n")
    keep = {target.name} | ({previous[1].name} if previous else set())
    for old in root.glob("v*"):
        if old.is_dir() and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for leftover in root.glob(".v*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return target


Glyphs = Callable[[Locale], list[str]]
"""The font rule of ``notices check``: the characters of a locale no bundled font draws."""


def glyph_problems(files: PackFiles, glyphs: Glyphs) -> list[str]:
    """``glyphs`` over every locale of a pack whose texts passed ``check_files``."""
    problems: list[str] = []
    for code, text in sorted(files.locales.items()):
        try:
            loc = parse_locale(code, text)
        except LocaleError as e:  # check_files refused it already; never silently pass
            problems.append(f"{code}: {e}")
            continue
        problems += [f"{code}: {p}" for p in glyphs(loc)]
    return problems


def verify_pack(
    data: bytes,
    trusted_keys: Iterable[str],
    *,
    applied: int | None,
    now: float,
    glyphs: Glyphs | None = None,
) -> tuple[int, PackFiles]:
    """Verify a signed pack and check its texts; raises ``signed.SignedError`` (``invalid``
    for a pack whose texts fail the checks, ``fonts`` for one the fonts cannot draw, even
    when its signature is good)."""
    from kiosk_agent.contracts import signed

    verified = signed.read_signed(
        data, trusted_keys, kind=KIND, subject=SUBJECT, applied_version=applied, now=now
    )
    try:
        files = parse_body(verified.body)
        problems = check_files(files)
    except PackError as e:
        raise signed.Invalid(str(e)) from None
    if problems:
        raise signed.Invalid(str(PackError(problems)))
    missing = glyph_problems(files, glyphs) if glyphs is not None else []
    if missing:
        raise signed.NoGlyphs(str(PackError(missing)))
    return verified.claims.version, files


def install_pack(
    state_dir: Path,
    data: bytes,
    trusted_keys: Iterable[str],
    *,
    now: float,
    glyphs: Glyphs | None = None,
) -> int:
    """Verify, check and apply a signed pack; returns its version. On any refusal
    (``signed.SignedError``) the applied pack stays as it was."""
    version, files = verify_pack(
        data, trusted_keys, applied=applied_version(state_dir), now=now, glyphs=glyphs
    )
    install_files(state_dir, version, files)
    with contextlib.suppress(OSError):
        write_atomic(packs_dir(state_dir) / f"v{version}.signed", data)
    return version
