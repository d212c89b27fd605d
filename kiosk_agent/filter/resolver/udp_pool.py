"""Connected UDP sockets to one upstream, kept open from one query to the next.

A socket per query (create, connect, register with the loop, unregister, close) cost
about 0.1 ms of the 0.5 ms that a forwarded query may add at 200 queries/s on the target
machines (docs/BENCHMARKS.md, Issue 3). The pool keeps what a fresh socket protected:

- a socket carries ONE query at a time, with a fresh random id: an off-path spoofer must
  still guess both the source port and the id of that one query;
- the source port is a random ephemeral port picked by the kernel, and a socket is
  retired after ``MAX_USES`` queries or ``MAX_AGE`` seconds, so the ports keep changing;
- a socket that received anything but the awaited answer (a stray or late datagram, an
  ICMP error) or whose query timed out is closed, never reused: a late answer to one
  query can never be taken for the answer to a later one.

Timeouts take no timer per query: every query of a pool has the same timeout, so their
deadlines come in the order they were sent, and one timer for the oldest deadline
serves them all (a per-query timer was a Python object, a heap push and a heap clean-up
on every forwarded query).

``send`` never calls ``done`` before it returns; ``done(data, None)`` or
``done(None, error)`` is called once, from the loop, unless the query is cancelled.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from collections.abc import Callable

from kiosk_agent.config import HostPort
from kiosk_agent.net.wire import answer_matches
from kiosk_agent.platform.agent_mark import mark_socket

MAX_USES = 100
MAX_AGE = 30.0
MAX_IDLE = 16  # sockets kept open while no query needs them

Done = Callable[[bytes | None, BaseException | None], None]


class Channel:
    """One connected socket, registered with the loop for its whole life."""

    __slots__ = ("born", "done", "qid", "question", "sock", "stray", "uses")

    def __init__(self, sock: socket.socket, born: float) -> None:
        self.sock = sock
        self.born = born
        self.uses = 0
        self.stray = False
        self.qid = -1
        self.question = b""
        self.done: Done | None = None

    def waiting(self, use: int) -> bool:
        """Is this channel's query number ``use`` still waiting for its answer?"""
        return self.done is not None and self.uses == use


class UdpPool:
    """The sockets to one upstream ``address``; ``send`` one query, get ``done`` called
    with its answer, or with ``TimeoutError`` after ``timeout`` seconds."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        address: HostPort,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loop = loop
        self.address = address
        self.timeout = timeout
        self.clock = clock
        self.family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        self._idle: list[Channel] = []
        self._busy: set[Channel] = set()
        # (deadline, channel, its query number) in the order sent, so in deadline order;
        # entries of answered queries are dropped when they reach the front.
        self._deadlines: deque[tuple[float, Channel, int]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.opened = 0

    def send(self, message: bytes, qid: int, question: bytes, done: Done) -> Channel | None:
        """Send ``message`` (whose id is ``qid``); the answer must match id and question.

        Returns the channel (for ``cancel``), or None when the send failed at once (then
        ``done`` gets the error on the next turn of the loop).
        """
        try:
            channel = self._take()
        except OSError as e:
            self.loop.call_soon(done, None, e)
            return None
        try:
            channel.sock.send(message)
        except OSError as e:
            self._retire(channel)
            self.loop.call_soon(done, None, e)
            return None
        channel.qid = qid
        channel.question = question
        channel.done = done
        channel.uses += 1
        self._busy.add(channel)
        deadlines = self._deadlines
        while deadlines and not deadlines[0][1].waiting(deadlines[0][2]):
            deadlines.popleft()
        deadline = self.loop.time() + self.timeout
        deadlines.append((deadline, channel, channel.uses))
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._expire)
        return channel

    def cancel(self, channel: Channel) -> None:
        """Forget the query on ``channel`` (``done`` is not called) and close it."""
        channel.done = None
        self._retire(channel)

    def close(self) -> None:
        """Close every socket; queries still waiting are cancelled without ``done``."""
        for channel in [*self._idle, *self._busy]:
            channel.done = None
            self._retire(channel)
        self._deadlines.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def open_sockets(self) -> int:
        return len(self._idle) + len(self._busy)

    # -- inside ---------------------------------------------------------------------

    def _take(self) -> Channel:
        now = self.clock()
        idle = self._idle
        while idle:
            channel = idle.pop()
            if channel.uses < MAX_USES and now - channel.born < MAX_AGE:
                return channel
            self._close(channel)
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            mark_socket(sock)  # the outbound DNS firewall lets only marked sockets out
            sock.setblocking(False)
            sock.connect((self.address.host, self.address.port))
        except OSError:
            sock.close()
            raise
        channel = Channel(sock, now)
        self.loop.add_reader(sock.fileno(), self._readable, channel)
        self.opened += 1
        return channel

    def _readable(self, channel: Channel) -> None:
        recv = channel.sock.recv
        while True:
            try:
                data = recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # e.g. ICMP port unreachable: nothing listens there
                self._finish(channel, None, e)
                return
            if channel.done is not None and answer_matches(data, channel.qid, channel.question):
                self._finish(channel, data, None)
                return
            # Not the awaited answer: a late one, a duplicate, or a spoofing attempt.
            channel.stray = True
            if channel.done is None:  # nothing waits on this socket: drop it now
                self._retire(channel)
                return

    def _expire(self) -> None:
        """The oldest deadline is due: time out every query past its deadline, then wait
        for the next one still waiting."""
        self._timer = None
        now = self.loop.time()
        deadlines = self._deadlines
        while deadlines:
            deadline, channel, use = deadlines[0]
            if channel.waiting(use):
                if deadline > now:
                    self._timer = self.loop.call_at(deadline, self._expire)
                    return
                self._finish(channel, None, TimeoutError())
            deadlines.popleft()

    def _finish(self, channel: Channel, data: bytes | None, error: BaseException | None) -> None:
        done, channel.done = channel.done, None
        self._busy.discard(channel)
        if data is not None and not channel.stray and len(self._idle) < MAX_IDLE:
            self._idle.append(channel)
        else:
            self._close(channel)
        if done is not None:
            done(data, error)

    def _retire(self, channel: Channel) -> None:
        channel.done = None
        self._busy.discard(channel)
        if channel in self._idle:
            self._idle.remove(channel)
        self._close(channel)

    def _close(self, channel: Channel) -> None:
        sock = channel.sock
        if sock.fileno() >= 0:
            self.loop.remove_reader(sock.fileno())
            sock.close()
