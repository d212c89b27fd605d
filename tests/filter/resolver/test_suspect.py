"""Stage 1 of URL-level blocking: suspect hosts answered with the proxy's address."""

from __future__ import annotations

import ipaddress

import dns.rcode
import dns.rdatatype
import pytest

from kiosk_agent.filter.resolver.suspect import SuspectHosts
from tests.filter.resolver.test_guards import Next, msg, q


class SuspectIndex:
    def __init__(self, hosts: set[str]) -> None:
        self.hosts = hosts

    def lookup_host(self, host: str) -> str | None:
        return None

    def suspect_host(self, host: str) -> bool:
        return host in self.hosts


INDEX = SuspectIndex({"pages.example"})


def test_suspect_hosts_go_to_the_proxy() -> None:
    nxt = Next()
    link = SuspectHosts(nxt, lambda: INDEX, "127.0.0.10", ttl=60)
    answer = msg(link.resolve(q("Pages.Example.")))
    assert answer.rcode() == dns.rcode.NOERROR
    (rrset,) = answer.answer
    assert rrset.ttl == 60
    assert [r.address for r in rrset] == ["127.0.0.10"]
    assert str(answer.question[0].name) == "Pages.Example."  # the question echoed as asked
    for rdtype in ("AAAA", "HTTPS", "SVCB"):
        nodata = msg(link.resolve(q("pages.example", rdtype)))
        assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == [], rdtype
    assert link.resolve(q("pages.example", "MX")) == b"passed"
    assert link.resolve(q("other.example")) == b"passed"
    assert nxt.seen == ["pages.example", "other.example"]
    assert link.status() == {"enabled": True, "redirected": 4}


@pytest.mark.parametrize("index", [None, object(), SuspectIndex(set())])
def test_passes_when_there_is_nothing_to_check(index: object) -> None:
    link = SuspectHosts(Next(), lambda: index, "127.0.0.10")
    assert link.resolve(q("pages.example")) == b"passed"


def test_disabled_proxy_passes_everything() -> None:
    link = SuspectHosts(Next(), lambda: INDEX, None)
    assert link.resolve(q("pages.example")) == b"passed"
    assert link.status()["enabled"] is False


def test_the_proxy_address_must_be_ipv4() -> None:
    with pytest.raises(ValueError):
        SuspectHosts(Next(), lambda: INDEX, "::1")
    assert ipaddress.ip_address("127.0.0.10").is_loopback
