"""CRX3 packing and verification, the extension id, the update manifest, and what the
guard API serves (or refuses to serve: a DEMO-signed package under a production config)."""

from __future__ import annotations

import contextlib
import hashlib
import struct
import zipfile
from functools import cache
from io import BytesIO
from pathlib import Path
from xml.etree import ElementTree

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.filter import crx
from kiosk_agent.filter.guard import (
    CRX_PATH,
    UPDATE_PATH,
    GuardApi,
    load_package,
    parse_head,
)
from kiosk_agent.installer.browser_guard import crx_problem, guard_policy, xpi_bytes
from tests.browser_guard.helpers import GUARD_DIR


@cache
def publisher_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def archive() -> bytes:
    return xpi_bytes(GUARD_DIR)


def test_pack_then_read_gives_the_archive_and_the_keys_id() -> None:
    data = crx.pack(archive(), publisher_key())
    assert data[:4] == b"Cr24" and struct.unpack("<I", data[4:8]) == (3,)
    package = crx.read(data)
    assert package.archive == archive()
    assert package.extension_id == crx.extension_id(crx.public_key_der(publisher_key()))
    assert len(package.extension_id) == 32 and set(package.extension_id) <= set("abcdefghijklmnop")


def test_extension_id_is_chromiums_mapping() -> None:
    # Chromium: hex digits of the first 16 bytes of SHA-256(key), 0-f written as a-p
    key = b"any public key bytes"
    digest = hashlib.sha256(key).hexdigest()[:32]
    expected = "".join("abcdefghijklmnop"[int(c, 16)] for c in digest)
    assert crx.extension_id(key) == expected


def test_demo_key_gives_the_published_demo_id() -> None:
    key = crx.load_key(crx.DEMO_KEY_FILE)
    assert key.key_size == 2048
    assert crx.extension_id(crx.public_key_der(key)) == crx.DEMO_EXTENSION_ID
    assert "DEMO" in crx.DEMO_KEY_FILE.name


def test_a_changed_archive_or_signature_is_refused() -> None:
    data = crx.pack(archive(), publisher_key())
    with pytest.raises(crx.CrxError, match="signature"):
        crx.read(data[:-1] + bytes([data[-1] ^ 1]))  # one bit of the zip
    (size,) = struct.unpack("<I", data[8:12])
    header = bytearray(data[12 : 12 + size])
    header[-40] ^= 1  # inside the signature or the signed data
    with pytest.raises(crx.CrxError):
        crx.read(data[:12] + bytes(header) + data[12 + size :])
    with pytest.raises(crx.CrxError, match="magic"):
        crx.read(b"PK\x03\x04" + data[4:])
    with pytest.raises(crx.CrxError, match="version"):
        crx.read(data[:4] + struct.pack("<I", 2) + data[8:])


def test_a_package_whose_id_is_another_keys_is_refused() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = crx.pack(archive(), publisher_key())
    forged = crx.pack(archive(), other)
    # the other key's proof with the first package's signed id: no proof matches the id
    (size_a,) = struct.unpack("<I", data[8:12])
    (size_b,) = struct.unpack("<I", forged[8:12])
    proof_b = next(v for n, v in crx.parse_fields(forged[12 : 12 + size_b]) if n == 2)
    signed_a = next(v for n, v in crx.parse_fields(data[12 : 12 + size_a]) if n == 10000)
    header = crx._field(2, proof_b) + crx._field(10000, signed_a)
    mixed = b"Cr24" + struct.pack("<II", 3, len(header)) + header + archive()
    with pytest.raises(crx.CrxError, match="no signature by the key the id names"):
        crx.read(mixed)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_read_never_fails_but_with_crx_error(blob: bytes) -> None:
    for data in (blob, b"Cr24" + struct.pack("<II", 3, len(blob)) + blob):
        with pytest.raises(crx.CrxError):
            crx.read(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20000), st.binary(max_size=40)), max_size=6))
def test_parse_fields_round_trips(fields: list[tuple[int, bytes]]) -> None:
    encoded = b"".join(crx._field(n, v) for n, v in fields)
    assert crx.parse_fields(encoded) == fields


@given(st.binary(max_size=60))
def test_parse_fields_raises_only_crx_error(blob: bytes) -> None:
    with contextlib.suppress(crx.CrxError):
        crx.parse_fields(blob)


def test_update_manifest_is_gupdate_xml() -> None:
    body = crx.update_manifest("a" * 32, "http://127.0.0.1:8054/browser-guard.crx", "1.0.0")
    root = ElementTree.fromstring(body)
    ns = "{http://www.google.com/update2/response}"
    assert root.tag == ns + "gupdate" and root.get("protocol") == "2.0"
    app = root.find(ns + "app")
    assert app is not None and app.get("appid") == "a" * 32
    check = app.find(ns + "updatecheck")
    assert check is not None
    assert check.get("codebase") == "http://127.0.0.1:8054/browser-guard.crx"
    assert check.get("version") == "1.0.0"


def _write(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "browser-guard.crx"
    path.write_bytes(crx.pack(archive(), key))
    return path


def test_load_package_refuses_the_demo_key_outside_a_demo(tmp_path: Path) -> None:
    path = _write(tmp_path, crx.load_key(crx.DEMO_KEY_FILE))
    with pytest.raises(ValueError, match="DEMO"):
        load_package(str(path), crx.DEMO_EXTENSION_ID, demo=False)
    package = load_package(str(path), crx.DEMO_EXTENSION_ID, demo=True)
    assert package.extension_id == crx.DEMO_EXTENSION_ID and package.version == "1.0.0"


def test_load_package_refuses_another_id_and_a_missing_file(tmp_path: Path) -> None:
    path = _write(tmp_path, publisher_key())
    own = crx.extension_id(crx.public_key_der(publisher_key()))
    assert load_package(str(path), own, demo=False).extension_id == own
    with pytest.raises(ValueError, match="is not"):
        load_package(str(path), "b" * 32, demo=False)
    with pytest.raises(ValueError, match="cannot read"):
        load_package(str(tmp_path / "gone.crx"), own, demo=False)
    with pytest.raises(ValueError, match="no Chromium package"):
        load_package(None, own, demo=False)


def test_installer_takes_a_publisher_package_not_a_demo_one() -> None:
    own = crx.extension_id(crx.public_key_der(publisher_key()))
    assert crx_problem(crx.pack(archive(), publisher_key())) == (own, "")
    demo_id, why = crx_problem(crx.pack(archive(), crx.load_key(crx.DEMO_KEY_FILE)))
    assert demo_id is None and "DEMO" in why
    assert crx_problem(b"garbage")[0] is None
    policy = guard_policy(Path("/opt/kiosk-agent"), windows=False, chromium_id=own)
    assert policy.chromium_update_url == "http://127.0.0.1:8054/browser-guard/update.xml"
    assert policy.chromium_crx == "/opt/kiosk-agent/browser-guard.crx"
    windows = guard_policy(Path("C:/Program Files/kiosk-agent"), windows=True, chromium_id=own)
    assert windows.chromium_crx == r"C:\Program Files\kiosk-agent\browser-guard.crx"


def _api(tmp_path: Path) -> GuardApi:
    path = _write(tmp_path, publisher_key())
    own = crx.extension_id(crx.public_key_der(publisher_key()))
    return GuardApi(
        lambda: None,
        lambda e: None,
        lambda lang: b"blocked",
        hosts=frozenset({"127.0.0.1:8054"}),
        package=load_package(str(path), own, demo=False),
    )


def test_api_serves_the_update_manifest_and_the_package_without_the_guard_header(
    tmp_path: Path,
) -> None:
    api = _api(tmp_path)
    head = f"GET {UPDATE_PATH}?x=id%3Dabc HTTP/1.1\r\nHost: 127.0.0.1:8054".encode()
    status, ctype, body = api.handle(parse_head(head))
    assert status == 200 and ctype == "application/xml"
    assert b'codebase="http://127.0.0.1:8054/browser-guard.crx"' in body
    status, ctype, body = api.handle(
        parse_head(f"GET {CRX_PATH} HTTP/1.1\r\nHost: 127.0.0.1:8054".encode())
    )
    assert ctype == "application/x-chrome-extension"
    assert zipfile.ZipFile(BytesIO(crx.read(body).archive)).read("manifest.json")
    assert api.counts.package_requests == 2
    # another Host (DNS rebinding) is refused as for every path
    response, _ = api.respond(f"GET {CRX_PATH} HTTP/1.1\r\nHost: evil.test:8054".encode())
    assert response.startswith(b"HTTP/1.1 403")


def test_api_without_a_package_has_no_such_paths(tmp_path: Path) -> None:
    api = _api(tmp_path)
    api.package = None
    response, _ = api.respond(f"GET {CRX_PATH} HTTP/1.1\r\nHost: 127.0.0.1:8054".encode())
    assert response.startswith(b"HTTP/1.1 403")  # no guard header: as any unknown request


def test_release_build_command_packs_and_names_the_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kiosk_agent.installer.browser_guard import main

    out = tmp_path / "browser-guard.crx"
    assert main(["--key", str(crx.DEMO_KEY_FILE), str(out)]) == 0
    assert crx.read(out.read_bytes()).archive == archive()
    said = capsys.readouterr().out
    assert crx.DEMO_EXTENSION_ID in said and "DEMO" in said


def test_the_service_serves_the_installed_package_but_never_a_demo_one(tmp_path: Path) -> None:
    from dataclasses import replace

    from kiosk_agent.config import Config
    from kiosk_agent.filter.guard import create_guard
    from kiosk_agent.platform.browser_policies import save_policy
    from kiosk_agent.service.context import ServiceContext

    own = crx.extension_id(crx.public_key_der(publisher_key()))
    path = _write(tmp_path, publisher_key())
    policy = guard_policy(tmp_path, windows=False, chromium_id=own)
    assert policy.chromium_crx == str(path)
    save_policy(tmp_path, policy)
    server = create_guard(ServiceContext(Config(state_dir=tmp_path)))
    assert server is not None and server.api.package is not None
    assert server.status()["chromium_package"] == own
    # the same place holding a DEMO-signed package: not served, and the status says why
    path.write_bytes(crx.pack(archive(), crx.load_key(crx.DEMO_KEY_FILE)))
    save_policy(tmp_path, replace(policy, chromium_id=crx.DEMO_EXTENSION_ID))
    server = create_guard(ServiceContext(Config(state_dir=tmp_path)))
    assert server is not None and server.api.package is None
    assert "DEMO" in str(server.status()["chromium_package"])
    demo = create_guard(ServiceContext(Config(state_dir=tmp_path, demo=True)))
    assert demo is not None and demo.api.package is not None  # a demo config may
