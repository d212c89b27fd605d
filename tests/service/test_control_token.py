"""Control token rights and the service-identity check before a PIN is sent (issue 15)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.platform.linux_listener import listener_owner, listener_uids
from kiosk_agent.service.control_client import ControlAuthError, ControlClient
from kiosk_agent.service.control_token import identity_problem, token_mode, write_token

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1602 1
   1: 0100007F:1F95 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 6596 1
   2: 0100007F:1F95 0100007F:A000 01 00000000:00000000 00:00000000 00000000  1001        0 6597 1
"""
TCP6 = (
    "  sl  local_address                         remote_address    st tx_queue\n"
    "   0: 00000000000000000000000001000000:1F96 "
    "00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000"
    "   105        0 1 1\n"
)


def test_listener_uids_from_proc_net_tables() -> None:
    assert listener_uids(TCP, "127.0.0.1", 0x1F95, "little") == [1000]  # not the connection
    assert listener_uids(TCP, "127.0.0.1", 0x07E8, "little") == [0]  # the wildcard listener
    assert listener_uids(TCP, "127.0.0.1", 9, "little") == []
    assert listener_uids(TCP6, "::1", 0x1F96, "little") == [105]


@given(st.text(max_size=300))
def test_listener_uids_never_raise(text: str) -> None:
    assert all(isinstance(u, int) for u in listener_uids(text, "127.0.0.1", 80))


def test_token_mode() -> None:
    assert token_mode(990, 0) == (0o640, 990)
    assert token_mode(None, 0) == (0o600, None)  # no kiosk-agent group: owner only
    assert token_mode(990, 1000) == (0o600, None)  # not root (run, demo): owner only


def test_written_token_is_not_world_readable(tmp_path: Path) -> None:
    path = write_token(tmp_path, "abc")
    assert path.read_text() == "abc\n" and not path.stat().st_mode & 0o077 & ~0o040


def test_identity_problem() -> None:
    assert identity_problem({0}, 0, required=True) is None
    assert "another program" in str(identity_problem({1000}, 0, required=True))
    assert "another program" in str(identity_problem({0, 1000}, 0, required=True))
    assert "nothing" in str(identity_problem(set(), 0, required=True))
    assert identity_problem(None, 0, required=False) is None
    assert identity_problem(None, 0, required=True) is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/net is Linux's")
def test_client_checks_the_listener_before_a_pin(tmp_path: Path) -> None:
    token = write_token(tmp_path, "abc")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert listener_owner("127.0.0.1", port) == {os.geteuid()}
        client = ControlClient(f"http://127.0.0.1:{port}", "abc", 1.0, token)
        client.check_service()  # our own listener, our own token file: the real service
    with pytest.raises(ControlAuthError, match="not sending the PIN"):
        client.check_service()  # nothing listens any more
    with pytest.raises(ControlAuthError, match="not sending the PIN"):
        client.pause("2468")


def _tcp_table(rows: list[tuple[str, int, int]]) -> bytes:
    """A MIB_TCPTABLE_OWNER_PID as GetExtendedTcpTable fills it (little-endian DWORDs,
    address and port in network byte order)."""
    import ipaddress
    import struct

    out = struct.pack("<I", len(rows))
    for host, port, pid in rows:
        addr = struct.unpack("<I", ipaddress.IPv4Address(host).packed)[0]
        raw_port = struct.unpack("<H", struct.pack(">H", port))[0]
        out += struct.pack("<6I", 2, addr, raw_port, 0, 0, pid)
    return out


def test_windows_listener_pids_from_the_tcp_table() -> None:
    from kiosk_agent.platform.windows_listener import listener_pids

    table = _tcp_table([("127.0.0.1", 8053, 4242), ("0.0.0.0", 445, 4), ("127.0.0.1", 80, 7)])
    assert listener_pids(table, "127.0.0.1", 8053) == [4242]
    assert listener_pids(table, "127.0.0.1", 445) == [4]  # the wildcard listener
    assert listener_pids(table, "127.0.0.1", 9) == []
    assert listener_pids(table[:20], "127.0.0.1", 8053) == []  # first row cut short
    assert listener_pids(b"", "127.0.0.1", 1) == []


@given(st.binary(max_size=200))
def test_windows_listener_table_never_raises(data: bytes) -> None:
    from kiosk_agent.platform.windows_listener import listener_pids

    assert all(isinstance(p, int) for p in listener_pids(data, "127.0.0.1", 8053))
