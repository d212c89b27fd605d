"""The UI's launcher opens no console: the spec's settings (read without running
PyInstaller) and the PE subsystem check that check_bundle.py applies to a Windows build."""

from __future__ import annotations

import ast
import struct

from hypothesis import given
from hypothesis import strategies as st

from installer.check_bundle import PE_CONSOLE, PE_GUI, pe_subsystem
from tests.conftest import REPO_ROOT

SPEC = REPO_ROOT / "installer" / "kiosk-agent.spec"


def _exe_calls() -> dict[str, dict[str, object]]:
    """Every ``EXE(...)`` in the spec: name -> its constant keyword arguments."""
    found: dict[str, dict[str, object]] = {}
    for node in ast.walk(ast.parse(SPEC.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "EXE":
            kwargs: dict[str, object] = {
                k.arg: k.value.value
                for k in node.keywords
                if k.arg and isinstance(k.value, ast.Constant)
            }
            found[str(kwargs["name"])] = kwargs
    return found


def test_spec_builds_a_windowed_ui_launcher_and_console_programs() -> None:
    calls = _exe_calls()
    assert set(calls) == {"kiosk-agent", "kiosk-agent-launcher", "kiosk-agent-ui-launcher"}
    ui = calls["kiosk-agent-ui-launcher"]
    assert ui["console"] is False and ui["append_pkg"] is False
    # The service and the operator's commands keep their console.
    assert calls["kiosk-agent"]["console"] is True
    assert calls["kiosk-agent-launcher"]["console"] is True
    assert '"kiosk-agent-launcher/kiosk-agent-ui.exe"' in SPEC.read_text()


def _pe(subsystem: int, magic: int = 0x20B) -> bytes:
    """A minimal PE header as a linker writes it (fields up to Subsystem)."""
    lfanew = 0x80
    dos = b"MZ" + b"\0" * 58 + struct.pack("<I", lfanew) + b"\0" * (lfanew - 64)
    coff = struct.pack("<HHIIIHH", 0x8664, 3, 0, 0, 0, 240, 0x22)
    optional = struct.pack("<H", magic) + b"\0" * 66 + struct.pack("<H", subsystem)
    return dos + b"PE\0\0" + coff + optional + b"\0" * 64


def test_pe_subsystem() -> None:
    assert pe_subsystem(_pe(PE_GUI)) == PE_GUI
    assert pe_subsystem(_pe(PE_CONSOLE, magic=0x10B)) == PE_CONSOLE
    assert pe_subsystem(_pe(PE_GUI, magic=0x107)) is None  # not PE32/PE32+
    assert pe_subsystem(b"\x7fELF" + b"\0" * 200) is None
    assert pe_subsystem(_pe(PE_GUI)[:150]) is None  # truncated


@given(st.binary(max_size=400))
def test_pe_subsystem_never_fails(data: bytes) -> None:
    got = pe_subsystem(data)
    assert got is None or 0 <= got < 65536
    assert pe_subsystem(b"MZ" + data) in (None, *range(65536))
