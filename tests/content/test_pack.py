"""Signed content packs: built from a folder, checked like `notices check`, applied, drawn."""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.content import active, pack
from kiosk_agent.content.countries import contact_lines, country_for
from kiosk_agent.content.locales import load_locale
from kiosk_agent.contracts import signed
from tests.filter.feed_helpers import keypair

KEY, PUB = keypair()
NOW = 1_800_000_000.0
BUILTIN = active.BUILTIN_DIR


def sign(files: pack.PackFiles, version: int) -> bytes:
    return signed.encode_signed(
        key=KEY,
        kind="content",
        issuer="test",
        subject="content",
        version=version,
        created=int(NOW) - 10,
        expires=int(NOW) + 86400,
        body=pack.encode_body(files),
    )


def edited(tmp_path: Path, title: str, helpline: str | None = None) -> pack.PackFiles:
    """The built-in content with the English title (and Kenya's helpline) changed."""
    folder = tmp_path / f"edit-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(BUILTIN / "locales", folder / "locales")
    shutil.copy(BUILTIN / "countries.yaml", folder / "countries.yaml")
    en = folder / "locales" / "en.yaml"
    en.write_text(
        en.read_text("utf-8").replace("Hello! Have fun and stay safe online", title), "utf-8"
    )
    if helpline is not None:
        c = folder / "countries.yaml"
        c.write_text(c.read_text("utf-8").replace('number: "116"', f'number: "{helpline}"', 1))
    return pack.collect(folder)


@pytest.fixture(autouse=True)
def _builtin_afterwards() -> object:
    yield
    active.use_state_dir(None)


def test_builtin_folder_is_a_valid_pack() -> None:
    files = pack.collect(BUILTIN)
    assert "en" in files.locales and "sw" in files.locales
    assert pack.check_files(files) == []
    assert pack.parse_body(pack.encode_body(files)) == files
    assert pack.encode_body(files) == pack.encode_body(files)  # reproducible


def test_applied_pack_is_drawn_without_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    active.use_state_dir(state)
    assert load_locale("en").text("notice.title") == "Hello! Have fun and stay safe online"
    files = edited(tmp_path, "Welcome, stay safe", helpline="1190")
    assert pack.install_pack(state, sign(files, 2), [PUB], now=NOW) == 2
    assert active.applied_version() == 2
    assert load_locale("en").text("notice.title") == "Welcome, stay safe"
    lines = contact_lines(load_locale("en"), country_for("KE"))
    assert lines.helpline_number == "1190"
    # A newer pack replaces it; the one before is kept on disk for a reader mid-way.
    pack.install_pack(state, sign(edited(tmp_path, "Third title"), 3), [PUB], now=NOW)
    assert load_locale("en").text("notice.title") == "Third title"
    assert sorted(p.name for p in (state / "content").glob("v*") if p.is_dir()) == ["v2", "v3"]
    # The UI runs as another account: the applied pack must be readable by it.
    assert (state / "content" / "v3").stat().st_mode & 0o755 == 0o755
    assert (state / "content" / "v3" / "locales" / "en.yaml").stat().st_mode & 0o644 == 0o644


def _without_key(yaml_text: str, key: str) -> str:
    """A locale file without one ``tray:`` line (a pack built before the key existed)."""
    lines = [line for line in yaml_text.split("\n") if not line.startswith(f"  {key}: ")]
    assert len(lines) == len(yaml_text.split("\n")) - 1
    return "\n".join(lines)


def test_a_pack_older_than_the_program_is_drawn_with_the_programs_new_texts(
    tmp_path: Path,
) -> None:
    """A pack built before this program added a text (here the tray's postpone entry)
    passes its own checks; the kiosk draws the pack's texts and, for the key it lacks,
    the program's own translation, never a KeyError."""
    state = tmp_path / "state"
    files = edited(tmp_path, "Older pack title", helpline="1190")
    older = {code: _without_key(text, "postpone_update") for code, text in files.locales.items()}
    older_files = pack.PackFiles(older, files.countries, files.images)
    assert pack.check_files(older_files) == []  # consistent with its own English
    assert pack.install_pack(state, sign(older_files, 2), [PUB], now=NOW) == 2
    active.use_state_dir(state)
    en, km = load_locale("en"), load_locale("km")
    assert en.text("notice.title") == "Older pack title"  # the pack's text
    assert en.text("tray.postpone_update") == "Postpone program updates for a day"
    builtin_km = load_locale("km", active.BUILTIN_LOCALES)
    assert km.text("tray.postpone_update") == builtin_km.text("tray.postpone_update")
    assert contact_lines(en, country_for("KE")).helpline_number == "1190"


def test_bad_pack_with_a_good_signature_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    pack.install_pack(state, sign(edited(tmp_path, "Good"), 2), [PUB], now=NOW)
    files = pack.collect(BUILTIN)
    broken = dict(files.locales)
    broken["fr"] = broken["fr"].replace("{helpline}", "{numero}")
    del broken["sw"]
    with pytest.raises(signed.Invalid) as e:
        pack.install_pack(state, sign(pack.PackFiles(broken, files.countries), 3), [PUB], now=NOW)
    assert "placeholders" in str(e.value) and "sw" in str(e.value)
    assert pack.applied_version(state) == 2  # the last good one stays


@pytest.mark.parametrize(
    ("version", "trusted", "now", "code"),
    [
        (2, [PUB], NOW, "rollback"),
        (3, ["ed25519:" + "A" * 43 + "="], NOW, "untrusted_key"),
        (3, [PUB], NOW + 90000, "expired"),
    ],
)
def test_signature_rollback_expiry(
    tmp_path: Path, version: int, trusted: list[str], now: float, code: str
) -> None:
    state = tmp_path / "state"
    pack.install_pack(state, sign(pack.collect(BUILTIN), 2), [PUB], now=NOW)
    with pytest.raises(signed.SignedError) as e:
        pack.install_pack(state, sign(pack.collect(BUILTIN), version), trusted, now=now)
    assert e.value.code == code
    assert pack.applied_version(state) == 2


def test_a_damaged_pointer_falls_back_to_builtin(tmp_path: Path) -> None:
    state = tmp_path / "state"
    pack.install_pack(state, sign(edited(tmp_path, "Applied"), 2), [PUB], now=NOW)
    active.use_state_dir(state)
    (state / "content" / "current.json").write_text('{"version": 2, "dir": "../../etc"}')
    assert active.locales_dir() == active.BUILTIN_LOCALES


@pytest.mark.parametrize(
    "obj",
    [
        {"format": 1, "locales": {"../x": "a"}, "countries": "", "images": {}},
        {"format": 1, "locales": {}, "countries": "", "images": {"../a.png": ""}},
        {"format": 1, "locales": {}, "countries": "", "images": {"a.png": "%%%"}},
        {"format": 2, "locales": {}, "countries": "", "images": {}},
        {"format": 1, "locales": {}, "countries": ""},
    ],
)
def test_bad_bodies(obj: object) -> None:
    with pytest.raises(pack.PackError):
        pack.parse_body(gzip.compress(json.dumps(obj).encode()))


@given(st.binary(max_size=300))
def test_body_parser_only_pack_errors(data: bytes) -> None:
    with contextlib.suppress(pack.PackError):
        pack.parse_body(data)
    with contextlib.suppress(pack.PackError):
        pack.parse_body(gzip.compress(data))
