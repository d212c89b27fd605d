"""The HTTP responses the proxy makes itself: the block page and short error answers.

The block page's HTML comes from a ``BlockPageSource`` (in the service: the same page
as ``kiosk_agent.filter.blockpage``, from the notice locales; here a minimal English
fallback). The page never names the blocked site or the list entry.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from kiosk_agent.filter.proxy.http import HttpParseError
from kiosk_agent.net.http_server import REASONS, Response


@dataclass(frozen=True, slots=True)
class BlockPageText:
    """One language's words for the block page."""

    lang: str
    title: str
    body: str
    direction: str = "ltr"
    extra: tuple[str, ...] = ()


ENGLISH = BlockPageText(
    lang="en",
    title="This page is blocked",
    body=(
        "This page is blocked to keep you safe. You did nothing wrong. If something "
        "online worried you, talk to an adult you trust."
    ),
    extra=("Want to talk to someone? In many countries you can call 116 111 for free.",),
)

BlockPageSource = Callable[[str | None], bytes]
"""The block page HTML for a request's ``Accept-Language`` value (None if absent)."""


def english_only(_accept_language: str | None) -> bytes:
    return block_page_html(ENGLISH)


def block_page_html(text: BlockPageText) -> bytes:
    """A small self-contained page (no external resources: it must load offline)."""
    e = html.escape
    paragraphs = "".join(f"<p>{e(line)}</p>" for line in (text.body, *text.extra))
    page = (
        f'<!doctype html><html lang="{e(text.lang)}" dir="{e(text.direction)}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{e(text.title)}</title><style>body{{font-family:sans-serif;max-width:40em;"
        "margin:3em auto;padding:0 1em;line-height:1.5;color:#223}h1{color:#1a5fb4}</style>"
        f"</head><body><h1>{e(text.title)}</h1>{paragraphs}</body></html>"
    )
    return page.encode("utf-8")


def block_response(body: bytes, keep_alive: bool) -> bytes:
    """The whole HTTP response for a blocked request with HTML ``body``: 403, never cached."""
    response = Response(403, body, "text/html; charset=utf-8", {"Cache-Control": "no-store"})
    return response.to_bytes(keep_alive=keep_alive)


def error_response(status: int) -> bytes:
    """A minimal plain-text answer; the connection is always closed after it."""
    body = f"{status} {REASONS.get(status, 'Error')}\n".encode("ascii")
    return Response(status, body, "text/plain").to_bytes()


def parse_error_response(error: HttpParseError) -> bytes:
    return error_response(error.status)
