# ruff: noqa: E501
"""Canonicalization and expressions: Safe Browsing's published examples and properties."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kiosk_agent.filter.urls import (
    InvalidURL,
    canonical_host,
    canonicalize,
    entry_hash,
    expressions,
    hash_int,
    host_expressions,
    host_hashes,
    name_sha256,
    url_hashes,
)

# The canonicalization examples of Google's Safe Browsing "URLs and Hashing" page.
SAFE_BROWSING_EXAMPLES = {
    "http://host/%25%32%35": "http://host/%25",
    "http://host/%25%32%35%25%32%35": "http://host/%25%25",
    "http://host/%2525252525252525": "http://host/%25",
    "http://host/asdf%25%32%35asd": "http://host/asdf%25asd",
    "http://host/%%%25%32%35asd%%": "http://host/%25%25%25asd%25%25",
    "http://www.google.com/": "http://www.google.com/",
    "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/": "http://168.188.99.26/.secure/www.ebay.com/",
    "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/": "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
    "http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B": "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
    "http://3279880203/blah": "http://195.127.0.11/blah",
    "http://www.google.com/blah/..": "http://www.google.com/",
    "www.google.com/": "http://www.google.com/",
    "www.google.com": "http://www.google.com/",
    "http://www.evil.com/blah#frag": "http://www.evil.com/blah",
    "http://www.GOOgle.com/": "http://www.google.com/",
    "http://www.google.com.../": "http://www.google.com/",
    "http://www.google.com/foo\tbar\rbaz\n2": "http://www.google.com/foobarbaz2",
    "http://www.google.com/q?": "http://www.google.com/q?",
    "http://www.google.com/q?r?": "http://www.google.com/q?r?",
    "http://www.google.com/q?r?s": "http://www.google.com/q?r?s",
    "http://evil.com/foo#bar#baz": "http://evil.com/foo",
    "http://evil.com/foo;": "http://evil.com/foo;",
    "http://evil.com/foo?bar;": "http://evil.com/foo?bar;",
    "http://notrailingslash.com": "http://notrailingslash.com/",
    "http://www.gotaport.com:1234/": "http://www.gotaport.com/",
    "  http://www.google.com/  ": "http://www.google.com/",
    "http:// leadingspace.com/": "http://%20leadingspace.com/",
    "http://%20leadingspace.com/": "http://%20leadingspace.com/",
    "%20leadingspace.com/": "http://%20leadingspace.com/",
    "https://www.securesite.com/": "https://www.securesite.com/",
    "http://host.com/ab%23cd": "http://host.com/ab%23cd",
    "http://host.com//twoslashes?more//slashes": "http://host.com/twoslashes?more//slashes",
}


@pytest.mark.parametrize(("url", "expected"), sorted(SAFE_BROWSING_EXAMPLES.items()))
def test_safe_browsing_examples(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


def test_raw_bytes_example() -> None:
    # The published example is a byte string; as text, U+0080 is two UTF-8 bytes.
    assert canonicalize(b"http://\x01\x80.com/") == "http://%01%80.com/"
    assert canonicalize("http://\x01\x80.com/") == "http://%01%C2%80.com/"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://10.1/", "http://10.0.0.1/"),
        ("http://192.168.257/", "http://192.168.1.1/"),
        ("http://1.2.3.4.5/", "http://1.2.3.4.5/"),
        ("http://256.1.1.1/", "http://256.1.1.1/"),
        ("http://Bücher.Example/", "http://xn--bcher-kva.example/"),
        ("http://user:pw@Host.example:8080/a", "http://host.example/a"),
        ("http://[::1]:8080/x", "http://[::1]/x"),
        ("HTTP://a.example/./b/../c/./", "http://a.example/c/"),
        ("http://a.example?q", "http://a.example/?q"),
        ("http://a.example/%3Fx", "http://a.example/?x"),
        ("http:///path", "http://path/"),
    ],
)
def test_more_forms(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


def test_no_host_is_invalid() -> None:
    for bad in ("", "http://", "...", "http://.../", "http://:80/"):
        with pytest.raises(InvalidURL):
            canonicalize(bad)


def test_expressions_published_examples() -> None:
    assert expressions("http://a.b.c/1/2.html?param=1") == [
        "a.b.c/1/2.html?param=1",
        "a.b.c/1/2.html",
        "a.b.c/",
        "a.b.c/1/",
        "b.c/1/2.html?param=1",
        "b.c/1/2.html",
        "b.c/",
        "b.c/1/",
    ]
    assert expressions("http://a.b.c.d.e.f.g/1.html") == [
        "a.b.c.d.e.f.g/1.html",
        "a.b.c.d.e.f.g/",
        "c.d.e.f.g/1.html",
        "c.d.e.f.g/",
        "d.e.f.g/1.html",
        "d.e.f.g/",
        "e.f.g/1.html",
        "e.f.g/",
        "f.g/1.html",
        "f.g/",
        "b.c.d.e.f.g/",  # a host entry covers names at any depth (issue 17)
    ]
    assert expressions("http://1.2.3.4/1/") == ["1.2.3.4/1/", "1.2.3.4/"]
    assert expressions("http://a.b/saw-cgi/eBayISAPI.dll/") == [
        "a.b/saw-cgi/eBayISAPI.dll/",
        "a.b/",
        "a.b/saw-cgi/",
    ]


def test_expressions_cap_path_prefixes() -> None:
    exprs = expressions("http://a.example/1/2/3/4/5/6.html?q=1")
    assert exprs == [
        "a.example/1/2/3/4/5/6.html?q=1",
        "a.example/1/2/3/4/5/6.html",
        "a.example/",
        "a.example/1/",
        "a.example/1/2/",
        "a.example/1/2/3/",
    ]


def test_host_expressions() -> None:
    assert host_expressions("WWW.Example.COM.") == ["www.example.com/", "example.com/"]
    assert host_expressions("a.b.c.d.e.f.g") == [
        "a.b.c.d.e.f.g/",
        "b.c.d.e.f.g/",
        "c.d.e.f.g/",
        "d.e.f.g/",
        "e.f.g/",
        "f.g/",
    ]
    assert host_expressions("test") == ["test/"]
    assert host_expressions("3279880203") == ["195.127.0.11/"]
    assert host_expressions("bücher.example") == ["xn--bcher-kva.example/"]
    with pytest.raises(InvalidURL):
        host_expressions("...")


def test_canonical_host_fast_path_agrees_with_canonicalize() -> None:
    for name in ("www.example.com", "a-b_c.example.org", "x1.test", "0x10.example"):
        assert canonical_host(name) + "/" == canonicalize(name).split("://", 1)[1]


def test_entry_hash() -> None:
    import hashlib

    digest = hashlib.sha256(b"a.b.c/1/").digest()
    assert entry_hash("a.b.c/1/") == digest[:8]
    assert hash_int("a.b.c/1/") == int.from_bytes(digest[:8], "big")


_url_text = st.lists(
    st.sampled_from(
        [*"abcXYZ019.-/%?#:@[]_~ \t\n", "%25", "%2e", "%2F", "%3F", "%41", "\x80", "é", "0x", ".."]
    ),
    max_size=20,
).map("".join)
_urls = st.one_of(
    _url_text,
    st.builds(
        lambda s, h, p: f"{s}{h}{p}",
        st.sampled_from(["", "http://", "https://", "HTTP://"]),
        _url_text,
        _url_text,
    ),
    st.text(max_size=40),
    st.binary(max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(_urls)
@example(".[]0")  # a "[" host only after its leading dot is stripped (found by hypothesis)
def test_canonicalize_is_idempotent(url: str | bytes) -> None:
    try:
        once = canonicalize(url)
    except InvalidURL:
        return
    assert canonicalize(once) == once
    assert once.isascii()


@settings(max_examples=300, deadline=None)
@given(_urls)
def test_expressions_bounded_and_exact(url: str | bytes) -> None:
    try:
        canonical = canonicalize(url)
    except InvalidURL:
        return
    exprs = expressions(url)
    assert 1 <= len(exprs) <= 30
    assert len(set(exprs)) == len(exprs)
    exact = canonical.split("://", 1)[1]
    assert exact in exprs
    host = exact.split("/", 1)[0]
    assert host + "/" in exprs


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(
            st.sampled_from(["a", "B", "0", "x1", "-", "_", "com", "test", "xn--p1ai"]),
            min_size=1,
            max_size=8,
        ).map(".".join),
        st.text(max_size=30),
    )
)
def test_host_hashes_match_host_expressions(host: str) -> None:
    try:
        exprs = host_expressions(host)
    except InvalidURL:
        with pytest.raises(InvalidURL):
            host_hashes(host)
        return
    assert host_hashes(host) == [hash_int(e) for e in exprs]
    for url in ("http://" + exprs[0] + "a/b?c", "https://www.example.org/x/y.html?q=1#f"):
        with contextlib.suppress(InvalidURL):
            assert url_hashes(url) == [hash_int(e) for e in expressions(url)]


@given(st.binary(max_size=600))
def test_name_sha256_is_sha256(data: bytes) -> None:
    assert name_sha256(data).digest() == hashlib.sha256(data).digest()


def test_name_sha256_is_cpythons_own() -> None:
    # The resolver hashes names with CPython's SHA-256, cheaper than OpenSSL's on a cold
    # CPU (docs/BENCHMARKS.md, issue 3); every CPython has one of these modules, so the
    # fallback to hashlib's must never be taken here.
    assert name_sha256 is not hashlib.sha256
    assert name_sha256.__module__ in ("_sha256", "_sha2")


def test_host_expressions_cover_every_parent_up_to_the_dns_limit() -> None:
    """Issue 17: every parent domain, however deep; a DNS name (at most 127 labels)
    bounds the count. Page expressions keep Safe Browsing's five hosts."""
    labels = [f"l{i}" for i in range(126)] + ["example"]
    name = ".".join(labels)
    exprs = host_expressions(name)
    assert len(exprs) == 126  # the name and 125 parents, not "example/" alone
    assert exprs[1] == ".".join(labels[1:]) + "/"
    assert exprs[-1] == "l125.example/"
    pages = [e for e in expressions(f"http://{name}/p.html") if not e.endswith("/")]
    assert len(pages) == 5
