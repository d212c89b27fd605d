"""Windows: in which session runs the program listening at an address.

The tray asks before it sends an operator PIN (as ``linux_listener`` does on Linux): the
service runs as SYSTEM in session 0, where no customer can start a program, so a
listener in any other session is not the service. ``GetExtendedTcpTable``
(``TCP_TABLE_OWNER_PID_LISTENER``) gives each listener's process id, and
``ProcessIdToSessionId`` its session. The table is parsed by a pure function tested on
Linux; the two calls are thin and have not been run on Windows by this project's CI.
"""

from __future__ import annotations

import ipaddress
import struct

TCP_TABLE_OWNER_PID_LISTENER = 3
AF_INET = 2
_ROW = struct.Struct("<6I")  # state, local addr, local port, remote addr, remote port, pid


def listener_pids(table: bytes, host: str, port: int) -> list[int]:
    """Process ids of the IPv4 listeners taking connections to ``host:port`` in a
    ``MIB_TCPTABLE_OWNER_PID`` (a count, then rows); short or malformed tables give []."""
    if len(table) < 4:
        return []
    (count,) = struct.unpack_from("<I", table, 0)
    want = ipaddress.IPv4Address(host)
    pids = []
    for i in range(min(count, (len(table) - 4) // _ROW.size)):
        _state, addr, raw_port, _ra, _rp, pid = _ROW.unpack_from(table, 4 + i * _ROW.size)
        # Both in network byte order inside a DWORD (the low 16 bits for the port).
        local = ipaddress.IPv4Address(struct.pack("<I", addr))
        local_port = struct.unpack(">H", struct.pack("<H", raw_port & 0xFFFF))[0]
        if local_port == port and (local == want or local.is_unspecified):
            pids.append(pid)
    return pids


def listener_sessions(host: str, port: int) -> set[int] | None:  # pragma: no cover
    """The session ids of the processes listening at ``host:port``; None if unknown."""
    import ctypes
    from ctypes import wintypes

    iphlpapi = ctypes.WinDLL("iphlpapi")  # type: ignore[attr-defined]
    kernel = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined]
    size = wintypes.DWORD(0)
    iphlpapi.GetExtendedTcpTable(
        None, ctypes.byref(size), False, AF_INET, TCP_TABLE_OWNER_PID_LISTENER, 0
    )
    buf = ctypes.create_string_buffer(size.value or 4)
    if iphlpapi.GetExtendedTcpTable(
        buf, ctypes.byref(size), False, AF_INET, TCP_TABLE_OWNER_PID_LISTENER, 0
    ):
        return None
    sessions = set()
    for pid in listener_pids(buf.raw[: size.value], host, port):
        session = wintypes.DWORD()
        if not kernel.ProcessIdToSessionId(pid, ctypes.byref(session)):
            return None
        sessions.add(int(session.value))
    return sessions
