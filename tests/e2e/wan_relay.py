"""A slow, lossy uplink for the café in a box: an IP packet relay between two TUN devices.

This kernel has ``tc`` tbf but no netem, so the delay and the loss are added here, in
user space, on real IP packets (not on a TCP stream: a stream relay could not lose a
segment, only stall it). ``up0`` lives in the café's router namespace and ``rg0`` in
the region's; every packet the kernel routes into one is read here, dropped with
probability ``--loss``, or written into the other after ``--delay`` seconds. Both
directions, so the round trip is twice the delay plus the serialisation that tbf adds
on each device. TCP sees genuine loss (retransmissions, its congestion control) and a
genuine round-trip time. Order is kept (a fixed delay).

``python -m tests.e2e.wan_relay NEAR_NS:DEV FAR_NS:DEV [--delay 0.15] [--loss 0.01]``
(root; the devices are made beforehand with ``ip tuntap add ... mode tun``). Prints
``ready`` once both are open, and the packets relayed and dropped when stopped.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time
from collections.abc import Sequence

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def open_tun(netns: str, dev: str) -> int:
    """An fd on TUN device ``dev`` of network namespace ``netns`` (a TUN fd belongs to
    the namespace it was attached in: enter it, attach, and come back)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        return fd
    finally:
        os.close(target)
        os.close(home)


def relay(a: int, b: int, delay: float, loss: float, rng: random.Random) -> tuple[int, int]:
    """Relay until SIGTERM; (packets relayed, packets dropped)."""
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    other = {a: b, b: a}
    due: list[tuple[float, int, int, bytes]] = []
    seq = relayed = dropped = 0
    while not stop:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, out, packet = heapq.heappop(due)
            try:
                os.write(out, packet)
                relayed += 1
            except OSError:
                dropped += 1  # the device went away: a packet lost on the wire
        wait = max(0.0, due[0][0] - now) if due else 0.5
        try:
            ready, _, _ = select.select([a, b], [], [], wait)
        except InterruptedError:
            continue
        for fd in ready:
            try:
                packet = os.read(fd, 65536)
            except OSError:
                continue
            if rng.random() < loss:
                dropped += 1
                continue
            seq += 1
            heapq.heappush(due, (time.monotonic() + delay, seq, other[fd], packet))
    return relayed, dropped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("near", help="NETNS:DEV")
    parser.add_argument("far", help="NETNS:DEV")
    parser.add_argument("--delay", type=float, default=0.15, help="seconds each way")
    parser.add_argument("--loss", type=float, default=0.01, help="probability per packet")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    a = open_tun(*args.near.split(":", 1))
    b = open_tun(*args.far.split(":", 1))
    print("ready", flush=True)
    relayed, dropped = relay(a, b, args.delay, args.loss, random.Random(args.seed))
    print(f"relayed {relayed} dropped {dropped}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
