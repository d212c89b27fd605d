"""Where a request really came from: trusted reverse proxies, HTTPS, Secure cookies.

The client address feeds the login rate limit, so ``X-Forwarded-For`` is believed only
from the proxies listed in ``trusted_proxies`` (anyone else could name any address and
lock other people out, or dodge the limit). ``X-Forwarded-Proto: https`` from such a
proxy makes the request HTTPS for HSTS and Secure cookies.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.types import Scope

from regional_server.settings import Settings

HSTS_VALUE = "max-age=31536000"
"""One year, as browsers' preload lists expect; no ``includeSubDomains``: the server
does not know what else runs under its parent domain."""


def is_https(scope: Scope) -> bool:
    return scope.get("scheme") in ("https", "wss")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address literal (no name is resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_cookies(scope: Scope, configured: bool | None) -> bool:
    """Whether cookies get ``Secure``: as configured, else unless the request came over
    plain HTTP to a loopback address (a server listening on loopback only)."""
    if configured is not None:
        return configured
    if is_https(scope):
        return True
    server = scope.get("server")
    return not (server and is_loopback(str(server[0])))


def cookie_secure(request: Request, settings: Settings) -> bool:
    return secure_cookies(request.scope, settings.secure_cookies)
