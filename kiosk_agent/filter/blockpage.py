"""The block page: what a browser shows when a blocked name was answered with the sinkhole.

A small HTTP server on ``filter.blockpage_listen`` answers every path and every host
name with one friendly page in the café's first language, with links to its other
languages (``?lang=sw``). The words come from the notice locale files (``block_page.*``
and the country's helpline / report lines of ``content/countries.yaml``), so translators
maintain one set of files. The page
names no site: the request's host is never read into the page, logged or stored.

HTTPS cannot show this page: the browser expects a certificate for the blocked name,
which the agent does not (and must not) have, so it shows a connection error instead;
the UI's toast explains the block in that case (docs/blockpage.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk_agent.service.context import ServiceContext

if TYPE_CHECKING:
    from kiosk_agent.content.locales import Locale

log = logging.getLogger(__name__)

MAX_REQUEST = 8192


@dataclass(frozen=True)
class PageText:
    """The block page's words in one language."""

    code: str
    language_name: str
    direction: str  # ltr or rtl
    title: str
    body: str
    helpline: str
    report: str
    other_languages: str


def render_page(current: PageText, others: Sequence[PageText]) -> str:
    """The page as HTML: ``current``'s text, with links to ``others``."""
    e = html.escape
    links = "".join(
        f'<li><a href="?lang={e(o.code)}" lang="{e(o.code)}" dir="{e(o.direction)}">'
        f"{e(o.language_name)}</a></li>"
        for o in others
        if o.code != current.code
    )
    languages = (
        f'<nav><h2>{e(current.other_languages)}</h2><ul class="langs">{links}</ul></nav>'
        if links
        else ""
    )
    return f"""<!doctype html>
<html lang="{e(current.code)}" dir="{e(current.direction)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{e(current.title)}</title>
<style>
body{{font-family:"Noto Sans",system-ui,sans-serif;background:#f3f7fb;color:#1f2a37;margin:0}}
main{{max-width:40rem;margin:8vh auto;background:#fff;border-radius:1rem;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}}
h1{{color:#1d5fa8;font-size:1.8rem;margin-top:0}}
p{{font-size:1.2rem;line-height:1.6}}
.langs{{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5rem}}
.langs a{{display:inline-block;padding:.3rem .8rem;border:1px solid #1d5fa8;border-radius:1rem;
text-decoration:none;color:#1d5fa8}}
h2{{font-size:1rem;color:#555}}
</style>
</head>
<body>
<main>
<h1>{e(current.title)}</h1>
<p>{e(current.body)}</p>
<p>{e(current.helpline)}</p>
<p>{e(current.report)}</p>
{languages}
</main>
</body>
</html>
"""


def choose_page(texts: Mapping[str, PageText], order: Sequence[str], query: str) -> PageText:
    """The page for ``?lang=`` if it names a language we have, else the café's first."""
    wanted = urllib.parse.parse_qs(query).get("lang", [])
    for code in [*wanted, *order]:
        if code in texts:
            return texts[code]
    return next(iter(texts.values()))


def load_page_texts(languages: Sequence[str], country: str) -> dict[str, PageText]:
    """The block page's words for each café language that has a locale file (English
    always), with the country's helpline and report lines where they are known."""
    from kiosk_agent.content.locales import REFERENCE, LocaleError, load_locale

    out: dict[str, PageText] = {}
    for code in [*languages, REFERENCE]:
        if code in out:
            continue
        try:
            locale = load_locale(code)
        except LocaleError:
            log.warning("no notice locale for %r: the block page skips it", code)
            continue
        helpline, report = _contact_lines(locale, country)
        out[code] = PageText(
            code=code,
            language_name=locale.name,
            direction=locale.direction,
            title=locale.text("block_page.title"),
            body=locale.text("block_page.body"),
            helpline=helpline,
            report=report,
            other_languages=locale.text("block_page.other_languages"),
        )
    return out


def _contact_lines(locale: Locale, country: str) -> tuple[str, str]:
    """The country's sourced helpline and report lines, else the general guidance."""
    from kiosk_agent.content.countries import contact_lines, country_for

    lines = contact_lines(locale, country_for(country), "block_page")
    helpline = (
        f"{lines.helpline} {lines.helpline_notes}" if lines.helpline_notes else lines.helpline
    )
    return helpline, lines.report


class BlockPageServer:
    """The ``blockpage`` component: serves the page on ``filter.blockpage_listen``."""

    name = "blockpage"

    def __init__(self, ctx: ServiceContext, texts: Mapping[str, PageText] | None = None) -> None:
        self.ctx = ctx
        self._texts = texts
        self._injected = texts is not None
        self._content_dir: object = None  # the content pack folder the texts came from
        self._order: tuple[str, ...] = ()  # the languages the texts were loaded for
        self.served = 0
        self.address: tuple[str, int] | None = None
        self.error: str | None = None
        self._server: asyncio.Server | None = None

    @property
    def texts(self) -> Mapping[str, PageText]:
        from kiosk_agent.content import active

        # A new content pack (content/active.py) is served from the next page on.
        folder = None if self._injected else active.locales_dir()
        order = self.order
        if self._texts is None or folder != self._content_dir or order != self._order:
            if self._injected and self._texts is not None:
                return self._texts
            self._texts = load_page_texts(order, self.ctx.config.cafe.country)
            self._content_dir, self._order = folder, order
        return self._texts

    @property
    def order(self) -> tuple[str, ...]:
        """The café's languages, read per page: a settings overlay may change them."""
        return tuple(self.ctx.config.cafe.languages)

    async def start(self) -> None:
        listen = self.ctx.config.filter.blockpage_listen
        _ = self.texts  # read the locale files now, not on the first blocked page
        try:
            self._server = await asyncio.start_server(self._serve, listen.host, listen.port)
        except OSError as e:
            # DNS filtering works without the page (browsers then show a connection
            # error); the status says why the page is missing.
            self.error = f"cannot listen on {listen}: {e.strerror}"
            log.error("block page: %s", self.error)
            return
        sock = self._server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def page(self, target: str) -> bytes:
        query = urllib.parse.urlsplit(target).query
        current = choose_page(self.texts, self.order, query)
        ordered = [self.texts[c] for c in self.order if c in self.texts]
        ordered += [t for c, t in self.texts.items() if c not in self.order]
        return render_page(current, ordered).encode("utf-8")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_REQUEST:
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            method = parts[0] if parts else ""
            target = parts[1] if len(parts) > 1 else "/"
            body = self.page(target)
            self.served += 1
            status = "403 Forbidden" if method in ("GET", "HEAD") else "405 Method Not Allowed"
            headers = (
                f"HTTP/1.1 {status}\r\n"
                "Content-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\n"
                "Referrer-Policy: no-referrer\r\n"
                "X-Content-Type-Options: nosniff\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            writer.write(headers if method == "HEAD" else headers + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def status(self) -> dict[str, object]:
        return {
            "listening": None if self.address is None else f"{self.address[0]}:{self.address[1]}",
            "languages": list(self.texts),
            "pages_served": self.served,
            "error": self.error,
        }


def create_blockpage(ctx: ServiceContext) -> BlockPageServer | None:
    """Only with ``block_answer: sinkhole``: NXDOMAIN answers never reach a page."""
    if ctx.config.filter.block_answer != "sinkhole":
        return None
    return BlockPageServer(ctx)
