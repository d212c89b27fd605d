"""The mark on the agent's own outbound DNS sockets, which the Linux firewall lets through.

Outbound DNS is refused for every process but the agent (docs/security.md, "Going around
the filter"). The rule recognizes the agent's sockets by their ``SO_MARK``: setting a
mark needs CAP_NET_ADMIN (or CAP_NET_RAW), which the service has as root and a
customer's process never has, so the mark cannot be faked by what the rule must stop.
"""

from __future__ import annotations

import logging
import socket
import sys

log = logging.getLogger(__name__)

AGENT_MARK = 0x4B41  # "KA"; nftables matches `meta mark 0x00004b41`
SO_MARK = getattr(socket, "SO_MARK", 36)  # Linux's value; Python has the name from 3.12

_warned = False


def mark_socket(sock: socket.socket) -> None:
    """Mark ``sock`` as the agent's (Linux); elsewhere, or without the right, nothing.

    Without CAP_NET_ADMIN (tests as an ordinary user, a development run) the socket stays
    unmarked: that only matters where the firewall is installed, and it is installed by
    the root service.
    """
    global _warned
    if sys.platform != "linux":
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_MARK, AGENT_MARK)
    except OSError as e:
        if not _warned:
            _warned = True
            log.debug("cannot mark the agent's DNS sockets (%s): fine unless firewalled", e)
