"""The extension's canonicalization (browser_guard/src/urls.js, run in Node) agrees with
kiosk_agent.filter.urls on Safe Browsing's published vectors and on generated URLs."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from kiosk_agent.filter.urls import InvalidURL, canonicalize, expressions
from tests.browser_guard.helpers import GUARD_DIR, node
from tests.filter.test_urls import SAFE_BROWSING_EXAMPLES

SCRIPT = GUARD_DIR / "test" / "canonicalize_stdin.js"


def run_js(urls: Sequence[str | bytes], *, hashed: bool = False) -> list[dict[str, Any]]:
    lines = []
    for url in urls:
        raw = url.encode("utf-8") if isinstance(url, str) else url
        item: dict[str, Any] = {"b64": base64.b64encode(raw).decode()}
        if isinstance(url, str):
            item["text"] = url  # JS gets the string itself, as a browser hands it over
        if hashed:
            item["hash"] = True
        lines.append(json.dumps(item))
    done = subprocess.run(
        [node(), str(SCRIPT)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(out) == len(urls), done.stderr
    return out


def python_side(url: str | bytes) -> dict[str, Any]:
    try:
        canonical = canonicalize(url)
    except InvalidURL:
        return {"invalid": True}
    host = canonical.split("://", 1)[1].split("/", 1)[0]
    return {
        "canonical": canonical,
        "expressions": expressions(url),
        "hosts": host_expressions_of(host),
    }


def host_expressions_of(canonical_host_text: str) -> list[str]:
    from kiosk_agent.filter.urls import host_suffixes

    return [h + "/" for h in host_suffixes(canonical_host_text)]


def compare(urls: Sequence[str | bytes]) -> None:
    js = run_js(urls)
    mismatches = []
    for url, got in zip(urls, js, strict=True):
        got.pop("prefixes", None)
        want = python_side(url)
        if got != want:
            mismatches.append((url, want, got))
    assert not mismatches, mismatches[:5]


@pytest.mark.parametrize("url", sorted(SAFE_BROWSING_EXAMPLES))
def test_published_vectors(url: str) -> None:
    got = run_js([url])[0]
    assert got["canonical"] == SAFE_BROWSING_EXAMPLES[url]
    assert got == python_side(url)


def test_published_vectors_and_more_forms_in_one_run() -> None:
    from tests.filter.test_urls import test_more_forms

    more = [
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://10.1/",
        "http://192.168.257/",
        "http://1.2.3.4.5/",
        "http://256.1.1.1/",
        "http://Bücher.Example/",
        "http://user:pw@Host.example:8080/a",
        "http://[::1]:8080/x",
        "HTTP://a.example/./b/../c/./",
        "http://a.example?q",
        "http://a.example/%3Fx",
        "http:///path",
        "",
        "http://",
        "...",
        "http://.../",
        "http://:80/",
    ]
    assert test_more_forms is not None  # the same forms as tests/filter/test_urls.py
    compare([*SAFE_BROWSING_EXAMPLES, *more])
    # the published byte-string example: \x80 is a raw byte, not UTF-8
    assert run_js([b"http://\x01\x80.com/"])[0]["canonical"] == "http://%01%80.com/"


def test_published_expression_examples_and_hashes() -> None:
    got = run_js(["http://a.b.c/1/2.html?param=1"], hashed=True)[0]
    assert got["expressions"] == expressions("http://a.b.c/1/2.html?param=1")
    assert got["prefixes"] == [
        hashlib.sha256(e.encode()).digest()[:8].hex() for e in got["expressions"]
    ]


# -- generated URLs ----------------------------------------------------------------------

_LABELS = ["www", "a", "b-c", "x1", "pages", "example", "test", "com", "co", "uk", "xn--p1ai"]
_IDN_LABELS = ["bücher", "пример", "例え", "ÄÖÜ", "straße", "café"]
_SEGMENTS = [
    "",
    ".",
    "..",
    "a",
    "B",
    "gallery",
    "img1.jpg",
    "%2e",
    "%2E%2e",
    "%41",
    "%25",
    "%2525",
    "%252525",
    "x%20y",
    "é",
    "%C3%A9",
    "%80",
    "%zz",
    "~",
    "a;b",
    "%2F",
    "//",
]
_PIECES = [
    *"abcXYZ019.-/%?#:@[]_~ \t\n",
    "%25",
    "%2e",
    "%2F",
    "%3F",
    "%41",
    "\x80",
    "é",
    "0x",
    "..",
    "%23",
    "%00",
    "\x7f",
    "0",
    "00",
    "0x1",
    "+",
    "_",
    "\x0b",
]


def _host(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.55:
        n = rng.randint(1, 7)
        labels = [rng.choice(_LABELS) for _ in range(n)]
        if rng.random() < 0.3:
            labels = [w.upper() if rng.random() < 0.5 else w for w in labels]
        host = ".".join(labels)
    elif kind < 0.65:
        # well-formed international names: UTS 46 in Python's idna and in the URL
        # standard agree on these (docs/browser-guard.md says where they differ)
        host = ".".join([rng.choice(_IDN_LABELS), rng.choice(["example", "test", "com"])])
    elif kind < 0.85:
        parts = [
            rng.choice(
                [
                    "1",
                    "127",
                    "0x7f",
                    "0177",
                    "255",
                    "256",
                    "3279880203",
                    "0",
                    "00",
                    "0x",
                    "08",
                    "1_0",
                    "0x1_f",
                    "4294967295",
                    "4294967296",
                    " 1",
                    "-1",
                ]
            )
            for _ in range(rng.randint(1, 5))
        ]
        host = ".".join(parts)
    else:
        host = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 12)))
    if rng.random() < 0.1:
        host = rng.choice([".", "..", "%2e"]) + host + rng.choice(["", ".", "..."])
    return host


def generated_urls(count: int, seed: int) -> list[str | bytes]:
    rng = random.Random(seed)
    out: list[str | bytes] = []
    for _ in range(count):
        scheme = rng.choice(["http://", "https://", "HTTP://", "", "ftp://", "http:///"])
        auth = rng.choice(["", "", "", "user@", "u:p@"])
        port = rng.choice(["", "", "", ":8080", ":", ":443"])
        path = "/".join(rng.choice(_SEGMENTS) for _ in range(rng.randint(0, 8)))
        path = ("/" if rng.random() < 0.9 else "") + path
        query = rng.choice(["", "", "?", "?q=1", "?a=b&c=%2F", "?x//y", "?%23"])
        frag = rng.choice(["", "", "#frag", "#a%23b"])
        url = scheme + auth + _host(rng) + port + path + query + frag
        if rng.random() < 0.05:
            raw = bytearray(url.encode())
            raw.insert(rng.randrange(len(raw) + 1), rng.randrange(0x80, 0x100))
            out.append(bytes(raw))  # not UTF-8 at all
        elif rng.random() < 0.05:
            out.append("".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 30))))
        else:
            out.append(url)
    return out


def test_generated_urls_agree() -> None:
    urls = generated_urls(4000, seed=23)
    compare(urls)
    # the mix is not degenerate: most URLs are valid, some are not, some are IPs
    sides = [python_side(u) for u in urls]
    valid = [s for s in sides if "canonical" in s]
    assert len(valid) > 3000
    assert len(valid) < len(urls)
    assert sum(1 for s in valid if s["canonical"].split("/")[2][:1].isdigit()) > 200


def test_hash_prefixes_agree_on_generated_urls() -> None:
    urls = [u for u in generated_urls(300, seed=5) if "canonical" in python_side(u)]
    for url, got in zip(urls, run_js(urls, hashed=True), strict=True):
        assert got["prefixes"] == [
            hashlib.sha256(e.encode()).digest()[:8].hex() for e in expressions(url)
        ]
