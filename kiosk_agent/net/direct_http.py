"""HTTP for the agent's own calls, resolving names through the upstream DNS servers directly.

Feed updates, report uploads and enrollment must work before the local resolver is
up, and must not depend on the system resolver (an installed kiosk points it at the
local resolver). So a ``requests.Session`` from ``direct_session`` connects with
urllib3 connection classes whose ``_new_conn`` looks the host up with
``direct_dns.UpstreamLookup`` and opens the TCP connection to that address. Everything
after the TCP connect is urllib3's own code: TLS gets the real host name for SNI and
for the certificate's name check (never the IP address), against the system CAs or a
configured CA bundle.

The session ignores proxy environment variables and ``.netrc`` (``trust_env = False``):
the service's environment is not the operator's. Every response's ``Date`` header may
correct the agent's clock (``kiosk_agent.net.clock``).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from kiosk_agent.config import Config, HostPort
from kiosk_agent.net.clock import Clock
from kiosk_agent.net.direct_dns import DnsLookupError, UpstreamLookup
from kiosk_agent.platform.saved_dns import SAVED_DNS_FILE

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (10.0, 30.0)
"""(connect, read) seconds when a caller gives no timeout: slow links, but never forever."""


class NoUpstreamError(Exception):
    """No upstream DNS server is known for the agent's own lookups."""


def upstream_servers(config: Config) -> list[HostPort]:
    """The configured upstreams with ``auto`` expanded, never the agent's own listeners.

    Same rule as the resolver (``kiosk_agent.net.upstreams``): ``auto`` means the
    servers saved by the installer in ``dns-before-install.json``; where nothing was
    saved (development, ``manage_system_dns: false``) the OS's current servers, because
    the OS is then not pointed at us. Raises ``NoUpstreamError`` when none is left.
    """
    from kiosk_agent.net.upstreams import configured_upstreams

    result = configured_upstreams(config)
    if not result:
        raise NoUpstreamError(
            "no upstream DNS server is known: set filter.upstreams to addresses like "
            f"192.0.2.1:53, or reinstall so that {SAVED_DNS_FILE} is saved"
        )
    return result


def _direct_connect(conn: HTTPConnection, lookup: UpstreamLookup) -> socket.socket:
    """Replacement for ``HTTPConnection._new_conn``: look up via upstreams, then connect."""
    host = conn._dns_host
    try:
        addresses = lookup.lookup(host)
    except DnsLookupError as e:
        raise NameResolutionError(conn.host, conn, socket.gaierror(str(e))) from e
    errors: list[str] = []
    for address in addresses:
        try:
            # An IP literal: urllib3's create_connection does no name lookup for it.
            return urllib3_connection.create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as e:
            if len(addresses) == 1:
                raise ConnectTimeoutError(
                    conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
                ) from e
            errors.append(f"{address}: timed out")
        except OSError as e:
            errors.append(f"{address}: {e}")
    raise NewConnectionError(conn, f"Failed to establish a new connection: {'; '.join(errors)}")


def _pool_classes(lookup: UpstreamLookup) -> dict[str, type[HTTPConnectionPool]]:
    """Connection-pool classes whose connections resolve through ``lookup``."""

    class DirectHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _direct_connect(self, lookup)

    class DirectHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _direct_connect(self, lookup)

    class DirectHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = DirectHTTPConnection

    class DirectHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = DirectHTTPSConnection

    return {"http": DirectHTTPConnectionPool, "https": DirectHTTPSConnectionPool}


class DirectResolvingAdapter(HTTPAdapter):
    """A requests transport adapter whose pools resolve names via ``lookup`` only."""

    def __init__(self, lookup: UpstreamLookup, **kwargs: Any) -> None:
        self.lookup = lookup
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # Pools are keyed by (scheme, host name, port): TLS sees the name, not the address.
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.lookup)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise requests.exceptions.InvalidProxyURL("the agent's own HTTP calls do not use proxies")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = DEFAULT_TIMEOUT
        return super().send(request, **kwargs)


def _clock_hook(clock: Clock) -> Any:
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        received = clock.system_now()
        clock.observe_server_date(
            response.headers.get("Date"),
            sent_at=received - response.elapsed.total_seconds(),
            received_at=received,
        )
        return response

    return hook


def direct_session(
    servers: Sequence[HostPort],
    *,
    ca_bundle: str | None = None,
    dns_timeout: float = 2.0,
    clock: Clock | None = None,
    headers: Mapping[str, str] | None = None,
    no_upstream_message: str | None = None,
) -> requests.Session:
    """A ``requests.Session`` that resolves names through ``servers`` only.

    ``ca_bundle``: a PEM file of CAs to trust instead of the system's (a regional
    server with a private CA). ``clock``: corrected from every response's ``Date``.
    """
    from kiosk_agent import __version__

    lookup = UpstreamLookup(servers, timeout=dns_timeout, no_servers_message=no_upstream_message)
    session = requests.Session()
    session.trust_env = False
    adapter = DirectResolvingAdapter(lookup, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = ca_bundle if ca_bundle else True
    session.headers["User-Agent"] = f"kiosk-agent/{__version__}"
    if headers:
        session.headers.update(headers)
    if clock is not None:
        session.hooks["response"].append(_clock_hook(clock))
    return session


def session_for_config(config: Config, *, clock: Clock | None = None) -> requests.Session:
    """``direct_session`` with the config's upstreams, timeout and ``reporting.ca_bundle``.

    With no upstream known the session still works for IP-literal URLs; a name lookup
    then fails with ``NoUpstreamError``'s explanation.
    """
    try:
        servers = upstream_servers(config)
        missing = None
    except NoUpstreamError as e:
        servers, missing = [], str(e)
    return direct_session(
        servers,
        no_upstream_message=missing,
        ca_bundle=config.reporting.ca_bundle,
        dns_timeout=config.filter.upstream_timeout,
        clock=clock,
    )
