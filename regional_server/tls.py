"""The server's own TLS (``kiosk-server serve --tls-cert``): uvicorn's context, with the
session tickets a region chose (none by default: no kiosk client resumes a session).

A TLS 1.3 server sends its tickets after the handshake, unasked: OpenSSL sends two per
connection, ≈ 250 bytes each. The agent's HTTP clients (urllib3 through ``requests``)
never offer a session again, and a hub's relay round runs in a fresh worker process,
so every ticket is bytes on a café's metered uplink for nothing (≈ 510 of a relay
round's ≈ 4 KB, docs/BENCHMARKS.md, issue 18).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from typing import Any

MAX_TICKETS = 10


def apply_ticket_policy(context: ssl.SSLContext, tickets: int) -> ssl.SSLContext:
    """``tickets`` TLS 1.3 session tickets per connection on ``context`` (a server's);
    with 0, TLS 1.2 stateless tickets are off too (``OP_NO_TICKET``)."""
    if not 0 <= tickets <= MAX_TICKETS:
        raise ValueError(f"tls_session_tickets must be 0-{MAX_TICKETS}, not {tickets}")
    context.num_tickets = tickets
    if tickets == 0:
        # TLS 1.2's ticket extension; under TLS 1.3 this option only switches tickets to
        # stateful ones, and num_tickets = 0 sends none of either kind.
        context.options |= ssl.OP_NO_TICKET
    return context


def _uvicorn_factory(
    config: Any, default_factory: Callable[[], ssl.SSLContext], *, tickets: int
) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: its own context (certificate, ALPN), then the
    tickets. Called in every worker process, after the config crossed to it."""
    del config
    return apply_ticket_policy(default_factory(), tickets)


def uvicorn_context_factory(tickets: int) -> Callable[..., ssl.SSLContext]:
    """A factory for ``uvicorn.run(ssl_context_factory=...)``: picklable (a partial of a
    module function), because with ``--workers`` > 1 uvicorn sends its config to each
    worker process, which builds its own context from it."""
    if not 0 <= tickets <= MAX_TICKETS:
        raise ValueError(f"tls_session_tickets must be 0-{MAX_TICKETS}, not {tickets}")
    return functools.partial(_uvicorn_factory, tickets=tickets)
