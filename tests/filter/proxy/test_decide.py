"""Pure decisions: HTTP and TLS verdicts, unverifiable-visit windows, usable origins."""

from __future__ import annotations

from kiosk_agent.filter.proxy.decide import TlsVerdict, VisitWindow, http_verdict, tls_verdict
from kiosk_agent.filter.proxy.origin import usable_addresses
from tests.filter.proxy.test_server import INDEX


def test_http_verdicts() -> None:
    assert http_verdict(INDEX, "site.example", "/bad/x.jpg") == "csam"
    assert http_verdict(INDEX, "site.example", "/good") is None
    assert http_verdict(INDEX, "listed.example", "/") == "csam"
    assert http_verdict(None, "site.example", "/bad/x.jpg") is None  # no list yet


def test_tls_verdicts() -> None:
    assert tls_verdict(INDEX, "listed.example") == TlsVerdict("refuse", "csam")
    assert tls_verdict(INDEX, "site.example") == TlsVerdict("splice", unverifiable=True)
    assert tls_verdict(INDEX, "other.example") == TlsVerdict("splice")
    assert tls_verdict(None, "site.example") == TlsVerdict("splice")


def test_visit_window() -> None:
    now = [0.0]
    window = VisitWindow(window=600, max_hosts=2, clock=lambda: now[0])
    assert window.first_visit("a.example")
    assert not window.first_visit("a.example")
    now[0] = 601
    assert window.first_visit("a.example")
    assert window.first_visit("b.example")
    assert window.first_visit("c.example")  # pushes a.example out (bounded)
    assert window.first_visit("a.example")
    window.reset()
    assert window.first_visit("b.example")


def test_usable_addresses() -> None:
    own = [("127.0.0.10", 80)]
    found = ["192.0.2.1", "0.0.0.0", "127.0.0.10", "::", "garbage", "192.0.2.1", "2001:db8::1"]
    assert usable_addresses(found, 80, own, False) == ["192.0.2.1", "2001:db8::1"]
    assert usable_addresses(["127.0.0.10"], 80, own, True) == []  # a loop, even in tests
    assert usable_addresses(["127.0.0.10"], 8080, own, True) == ["127.0.0.10"]
    assert usable_addresses(["127.0.0.1", "::1"], 80, own, False) == []
