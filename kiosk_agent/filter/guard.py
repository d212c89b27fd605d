"""The browser guard's loopback API: hash prefixes in, a category out (issue 23).

The browser extension (``browser_guard/``) hashes a URL's Safe Browsing expressions
itself and asks here whether any 8-byte prefix is listed; it never sends a name or a URL
and never holds the list. A hint of 4-byte prefixes of *suspect hosts* (hosts that carry
URL-level entries) lets it skip the question for every other host. Read-only,
rate-limited, loopback only; a listed page publishes ``Blocked(category)`` once per
answer, like a DNS block (docs/browser-guard.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kiosk_agent.net.http_server import (
    HttpError,
    Response,
    parse_request_head,
    read_head,
)
from kiosk_agent.reporting.events import Blocked

if TYPE_CHECKING:
    from kiosk_agent.config import HostPort
    from kiosk_agent.reporting.events import Event
    from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8054
"""Where the guard listens unless ``filter.guard.listen`` says otherwise; the extension's
default (``browser_guard/src/config.js``) must name the same address."""

MAX_PREFIXES = 32  # an URL has at most 5 x 6 = 30 expressions
HINT_PREFIX_BYTES = 4
HINT_TTL = 300  # seconds the extension keeps the suspect-host hint before asking again
GUARD_HEADER = "x-kiosk-guard"
"""Every API request carries this header. A web page cannot send it to another origin
without a CORS preflight, which is refused, so pages cannot use (or count on) the API."""
BLOCK_PATH = "/blocked"
MAX_HEAD = 8192
KINDS = frozenset({"page", "resource", "dns"})
"""``page``/``resource``: a URL the browser is about to load (a hit is counted);
``dns``: a name the resolver already refused (NXDOMAIN, counted there), asked only to
show the block page instead of the browser's error."""

_PREFIX = re.compile(r"[0-9a-f]{16}")


GuardRequestError = HttpError
"""A request the API refuses; ``status`` is the HTTP status to answer with."""


class PrefixIndex(Protocol):
    """What the guard needs from one open blocklist index."""

    def lookup_hashes(self, hashes: Iterable[int]) -> str | None: ...

    def array(self, code: int) -> Sequence[int]: ...

    @property
    def version(self) -> int: ...

    @property
    def list_id(self) -> str: ...


class IndexSet(Protocol):
    """The updater's ``IndexHolder``: the indexes in force now."""

    @property
    def indexes(self) -> tuple[PrefixIndex, ...]: ...


# -- pure decisions ----------------------------------------------------------------------


def parse_prefixes(text: str) -> list[int]:
    """The 8-byte prefixes of ``p=`` (comma-separated lowercase hex, 1 to 32 of them) as
    unsigned 64-bit integers, the index's keys. Raises ``GuardRequestError`` (400)."""
    items = text.split(",") if text else []
    if not 1 <= len(items) <= MAX_PREFIXES:
        raise GuardRequestError(400, f"give 1 to {MAX_PREFIXES} prefixes")
    out = []
    for item in items:
        if not _PREFIX.fullmatch(item):
            raise GuardRequestError(400, "a prefix is 16 lowercase hex digits")
        out.append(int(item, 16))
    return out


def parse_check(query: str) -> tuple[list[int], str]:
    """(prefixes, kind) of a ``/v1/check`` query string. Raises ``GuardRequestError``."""
    try:
        params = urllib.parse.parse_qs(query, strict_parsing=bool(query), max_num_fields=4)
    except ValueError:
        raise GuardRequestError(400, "malformed query") from None
    kind = params.get("kind", ["page"])
    prefixes = params.get("p", [""])
    if len(kind) != 1 or kind[0] not in KINDS or len(prefixes) != 1:
        raise GuardRequestError(400, "kind is page, resource or dns; one p")
    return parse_prefixes(prefixes[0]), kind[0]


def verdict(indexes: Iterable[PrefixIndex], prefixes: Sequence[int]) -> str | None:
    """The category of the first list that has one of ``prefixes``, else None."""
    for idx in indexes:
        category = idx.lookup_hashes(prefixes)
        if category is not None:
            return category
    return None


def suspect_hint(indexes: Iterable[PrefixIndex], suspect_code: int) -> list[str]:
    """Sorted, distinct 4-byte hex prefixes of every list's suspect-host hashes."""
    tops: set[int] = set()
    shift = 64 - 8 * HINT_PREFIX_BYTES
    for idx in indexes:
        tops.update(h >> shift for h in idx.array(suspect_code))
    return [f"{t:08x}" for t in sorted(tops)]


@dataclass
class RateLimiter:
    """A token bucket: ``rate`` requests a second on average, bursts up to ``burst``."""

    rate: float = 100.0
    burst: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(default=-1.0, init=False)
    _last: float = field(default=0.0, init=False)

    def allow(self) -> bool:
        now = self.clock()
        if self._tokens < 0:
            self._tokens, self._last = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """``Host`` header values the API answers: its own address (DNS rebinding defence:
    a page on a name that resolves to 127.0.0.1 would send its own name)."""
    names = {host, "localhost"} | ({"127.0.0.1"} if host.startswith("127.") else set())
    return frozenset(f"{n}:{port}" for n in names)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]


def parse_head(head: bytes) -> Request:
    """Method, target and headers of an HTTP/1.1 request head (the shared parser,
    ``kiosk_agent/net/http_server.py``), stricter for this API: an origin-form target,
    no body and no repeated header."""
    request = parse_request_head(head)
    if not request.target.startswith("/"):
        raise GuardRequestError(400, "malformed request")
    headers = request.headers
    if request.repeated or "content-length" in headers or "transfer-encoding" in headers:
        raise GuardRequestError(400, "no bodies and no repeated headers")
    path, _, query = request.target.partition("?")
    return Request(request.method, path, query, headers)


# -- the API ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChromiumPackage:
    """The signed ``.crx`` the guard API serves to Chromium-family browsers' updater,
    which a force-list entry points at (``ExtensionInstallForcelist``)."""

    extension_id: str
    version: str
    crx: bytes


CRX_PATH = "/browser-guard.crx"
UPDATE_PATH = "/browser-guard/update.xml"


def update_url(host: str, port: int) -> str:
    """The force-list entry's update URL for a guard API at ``host:port``."""
    return f"http://{host}:{port}{UPDATE_PATH}"


def load_package(path: str | None, expected_id: str | None, demo: bool) -> ChromiumPackage:
    """Read and verify the installed ``.crx``. Raises ``ValueError`` with the reason when
    it is missing, damaged, not the id the policy names, or signed with the published DEMO
    key under a config that is not a demo (anyone can sign a DEMO package)."""
    import io
    import zipfile
    from pathlib import Path

    from kiosk_agent.filter import crx

    if not path:
        raise ValueError("no Chromium package was installed")
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    package = crx.read(data)  # CrxError is a ValueError
    if package.extension_id == crx.DEMO_EXTENSION_ID and not demo:
        raise ValueError("the package is signed with the published DEMO key")
    if expected_id is not None and package.extension_id != expected_id:
        raise ValueError(f"the package's id {package.extension_id} is not {expected_id}")
    try:
        with zipfile.ZipFile(io.BytesIO(package.archive)) as z:
            version = str(json.loads(z.read("manifest.json"))["version"])
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError):
        raise ValueError("the package holds no readable manifest.json") from None
    return ChromiumPackage(package.extension_id, version, data)


@dataclass
class GuardCounts:
    """What the status shows: counts only, never a prefix or a name."""

    requests: int = 0
    checks: int = 0
    hits: int = 0
    hint_requests: int = 0
    pages_served: int = 0
    package_requests: int = 0
    limited: int = 0
    refused: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


BlockPages = Callable[[str | None], bytes]


class GuardApi:
    """Answers one request at a time; sockets live in ``GuardServer``."""

    def __init__(
        self,
        current: Callable[[], IndexSet | None],
        publish: Callable[[Event], None],
        block_page: BlockPages,
        *,
        active: Callable[[], bool] = lambda: True,
        limiter: RateLimiter | None = None,
        hosts: frozenset[str] = frozenset(),
        package: ChromiumPackage | None = None,
    ) -> None:
        from kiosk_agent.contracts.feed import SUSPECT

        self.current = current
        self.publish = publish
        self.block_page = block_page
        self.active = active
        self.limiter = limiter or RateLimiter()
        self.hosts = hosts
        self.package = package
        self.counts = GuardCounts()
        self._suspect_code = SUSPECT
        self._hint_key: tuple[tuple[str, int], ...] | None = None
        self._hint_body = b""

    def _indexes(self) -> tuple[PrefixIndex, ...]:
        holder = self.current()
        return () if holder is None or not self.active() else tuple(holder.indexes)

    def hint_body(self) -> bytes:
        indexes = self._indexes()
        key = tuple((i.list_id, i.version) for i in indexes)
        if key != self._hint_key:  # rebuilt after a list update or a pause, not per request
            body = {
                "prefix_bytes": HINT_PREFIX_BYTES,
                "prefixes": suspect_hint(indexes, self._suspect_code),
                "ttl": HINT_TTL,
                "active": bool(indexes),
            }
            self._hint_body = json.dumps(body, separators=(",", ":")).encode()
            self._hint_key = key
        return self._hint_body

    def check(self, query: str) -> bytes:
        prefixes, kind = parse_check(query)
        self.counts.checks += 1
        category = verdict(self._indexes(), prefixes)
        if category is not None:
            self.counts.hits += 1
            if kind != "dns":  # the resolver counted the NXDOMAIN already
                self.publish(Blocked(category))
        return json.dumps({"category": category}).encode()

    def handle(self, request: Request) -> tuple[int, str, bytes]:
        """(status, content type, body) for ``request``."""
        self.counts.requests += 1
        if self.hosts and request.headers.get("host", "") not in self.hosts:
            raise GuardRequestError(403, "wrong host")
        if request.path == BLOCK_PATH:
            if request.method not in ("GET", "HEAD"):
                raise GuardRequestError(405, "method not allowed")
            self.counts.pages_served += 1
            return (
                403,
                "text/html; charset=utf-8",
                self.block_page(request.headers.get("accept-language")),
            )
        if request.path in (UPDATE_PATH, CRX_PATH) and self.package is not None:
            return self._package(request)
        if request.method == "OPTIONS" or GUARD_HEADER not in request.headers:
            raise GuardRequestError(403, "for the kiosk's browser extension only")
        if request.method != "GET":
            raise GuardRequestError(405, "method not allowed")
        if not self.limiter.allow():
            self.counts.limited += 1
            raise GuardRequestError(429, "too many requests")
        if request.path == "/v1/hosts":
            self.counts.hint_requests += 1
            return 200, "application/json", self.hint_body()
        if request.path == "/v1/check":
            return 200, "application/json", self.check(request.query)
        raise GuardRequestError(404, "not found")

    def _package(self, request: Request) -> tuple[int, str, bytes]:
        """The browser's extension updater: no guard header (it cannot send one); the
        files are public (the extension's code), so only the rate limit applies."""
        assert self.package is not None
        if request.method not in ("GET", "HEAD"):
            raise GuardRequestError(405, "method not allowed")
        if not self.limiter.allow():
            self.counts.limited += 1
            raise GuardRequestError(429, "too many requests")
        self.counts.package_requests += 1
        if request.path == CRX_PATH:
            return 200, "application/x-chrome-extension", self.package.crx
        from kiosk_agent.filter.crx import update_manifest

        # the Host header was checked against the API's own addresses above
        base = f"http://{request.headers.get('host', '')}"
        body = update_manifest(self.package.extension_id, base + CRX_PATH, self.package.version)
        return 200, "application/xml", body

    def respond(self, head: bytes) -> tuple[bytes, bool]:
        """The whole response to a request head, and whether to keep the connection."""
        keep = False
        try:
            request = parse_head(head)
            keep = request.headers.get("connection", "").lower() != "close"
            status, ctype, body = self.handle(request)
            if request.method == "HEAD":
                body = b""
        except GuardRequestError as e:
            self.counts.refused += 1
            status, ctype = e.status, "application/json"
            body = json.dumps({"error": str(e)}).encode()
        extra = {
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        }
        return Response(status, body, ctype, extra).to_bytes(keep_alive=keep), keep


class GuardServer:
    """The ``guard`` component: ``GuardApi`` on a loopback address, keep-alive HTTP/1.1."""

    name = "guard"
    idle_timeout = 30.0
    max_connections = 64

    def __init__(self, api: GuardApi, listen: HostPort) -> None:
        self.api = api
        self.listen = listen
        self.address: tuple[str, int] | None = None
        self.error: str | None = None
        self.package_error: str | None = None
        self._server: asyncio.Server | None = None
        self._open = 0

    async def start(self) -> None:
        if not self.listen.host.startswith("127.") and self.listen.host != "::1":
            self.error = f"refusing to listen on {self.listen}: loopback only"
            log.error("browser guard: %s", self.error)
            return
        try:
            self._server = await asyncio.start_server(
                self._serve, self.listen.host, self.listen.port, limit=MAX_HEAD
            )
        except OSError as e:
            # DNS filtering goes on without the guard; the status says why it is missing
            self.error = f"cannot listen on {self.listen}: {e.strerror}"
            log.error("browser guard: %s", self.error)
            return
        sock = self._server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])
        if not self.api.hosts:
            self.api.hosts = allowed_hosts(sock[0], sock[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > self.max_connections:
                return
            keep = True
            while keep:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        head = await read_head(reader, MAX_HEAD)
                except HttpError as e:  # a head past the limit: say so, then close
                    self.api.counts.refused += 1
                    writer.write(Response.json(e.status, {"error": e.message}).to_bytes())
                    await writer.drain()
                    return
                response, keep = self.api.respond(head[:-4])
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, OSError):
            pass
        finally:
            self._open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def status(self) -> dict[str, Any]:
        return {
            "listening": None if self.address is None else f"{self.address[0]}:{self.address[1]}",
            "error": self.error,
            "chromium_package": (
                self.api.package.extension_id if self.api.package else self.package_error
            ),
            **self.api.counts.as_dict(),
        }


def guard_listen(ctx: ServiceContext) -> tuple[bool, HostPort]:
    """(enabled, address) from ``filter.guard`` (on at 127.0.0.1:8054 by default, the
    extension's default)."""
    guard = ctx.config.filter.guard
    return guard.enabled, guard.listen


def create_guard(ctx: ServiceContext) -> GuardServer | None:
    """The factory ``build_components`` uses: reads the updater's indexes, follows the
    operator's pause through the resolver's switch, publishes on the service's bus."""
    from kiosk_agent.filter.proxy.locale_page import locale_block_pages
    from kiosk_agent.platform.browser_policies import load_policy

    enabled, listen = guard_listen(ctx)
    if not enabled:
        return None
    current: Callable[[], Any] = getattr(ctx.components.get("updater"), "current_index", None) or (
        lambda: None
    )

    def active() -> bool:
        switch = getattr(ctx.components.get("resolver"), "switch", None)
        return bool(getattr(switch, "on", True))

    api = GuardApi(
        current,
        ctx.bus.publish,
        locale_block_pages(ctx.config.cafe.languages, ctx.config.cafe.country),
        active=active,
    )
    server = GuardServer(api, listen)
    policy = load_policy(ctx.config.state_dir)
    if policy is not None and policy.chromium_crx:
        try:
            api.package = load_package(policy.chromium_crx, policy.chromium_id, ctx.config.demo)
        except ValueError as e:
            # the guard still answers; Chromium-family browsers do not get the extension
            server.package_error = str(e)
            log.error("browser guard: not serving the Chromium package: %s", e)
    return server
