"""HTTP through upstream DNS only, with TLS checked against the real host name."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_agent.config import HostPort, config_from_mapping
from kiosk_agent.net.clock import Clock
from kiosk_agent.net.direct_http import (
    NoUpstreamError,
    direct_session,
    upstream_servers,
)
from kiosk_agent.net.upstreams import saved_servers
from kiosk_agent.platform.base import DnsSnapshot
from kiosk_agent.platform.saved_dns import SAVED_DNS_FILE, save_snapshot
from tests.fake_dns import FakeDnsState, fake_dns
from tests.tls_certs import TlsFiles, make_tls_files

TEN_YEARS = 10 * 365.25 * 86400


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"), ["kiosk.test"])


@pytest.fixture
def https_port(tls: TlsFiles) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.socket = tls.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything asks the system resolver for a name."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        try:
            import ipaddress

            ipaddress.ip_address(str(host).strip("[]"))
        except ValueError:
            raise AssertionError(f"system resolver asked for {host!r}") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


DNS = FakeDnsState(a={"kiosk.test": ["127.0.0.1"], "wrong-name.test": ["127.0.0.1"]})


@pytest.mark.usefixtures("no_system_resolver")
def test_https_via_upstream_dns_with_ca_bundle(tls: TlsFiles, https_port: int) -> None:
    with fake_dns(FakeDnsState(a=DNS.a)) as (state, dns_port):
        session = direct_session([HostPort("127.0.0.1", dns_port)], ca_bundle=str(tls.ca_pem))
        r = session.get(f"https://kiosk.test:{https_port}/x", timeout=5)
        assert r.status_code == 200
        assert r.json()["host"] == f"kiosk.test:{https_port}"
        assert ("udp", "kiosk.test", "A") in state.questions


@pytest.mark.usefixtures("no_system_resolver")
def test_certificate_is_checked_against_the_name_not_the_address(
    tls: TlsFiles, https_port: int
) -> None:
    with fake_dns(FakeDnsState(a=DNS.a)) as (_, dns_port):
        session = direct_session([HostPort("127.0.0.1", dns_port)], ca_bundle=str(tls.ca_pem))
        # Same address, but the certificate does not name wrong-name.test.
        with pytest.raises(requests.exceptions.SSLError, match=r"wrong-name\.test|match"):
            session.get(f"https://wrong-name.test:{https_port}/", timeout=5)


@pytest.mark.usefixtures("no_system_resolver")
def test_untrusted_ca_is_refused(https_port: int) -> None:
    with fake_dns(FakeDnsState(a=DNS.a)) as (_, dns_port):
        session = direct_session([HostPort("127.0.0.1", dns_port)])  # system CAs only
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://kiosk.test:{https_port}/", timeout=5)


@pytest.mark.usefixtures("no_system_resolver")
def test_unknown_name_is_a_connection_error() -> None:
    with fake_dns(FakeDnsState(a=DNS.a)) as (_, dns_port):
        session = direct_session([HostPort("127.0.0.1", dns_port)])
        with pytest.raises(requests.exceptions.ConnectionError, match="does not exist"):
            session.get("https://missing.test/", timeout=5)


def test_proxy_environment_is_ignored(
    tls: TlsFiles, https_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    with fake_dns(FakeDnsState(a=DNS.a)) as (_, dns_port):
        session = direct_session([HostPort("127.0.0.1", dns_port)], ca_bundle=str(tls.ca_pem))
        assert session.get(f"https://kiosk.test:{https_port}/", timeout=5).status_code == 200


def test_date_header_corrects_the_clock(tls: TlsFiles, https_port: int, tmp_path: Path) -> None:
    import time

    clock = Clock(tmp_path, system_time=lambda: time.time() - TEN_YEARS)
    with fake_dns(FakeDnsState(a=DNS.a)) as (_, dns_port):
        session = direct_session(
            [HostPort("127.0.0.1", dns_port)], ca_bundle=str(tls.ca_pem), clock=clock
        )
        session.get(f"https://kiosk.test:{https_port}/", timeout=5)
    assert abs(clock.now() - time.time()) < 3


def _config(tmp_path: Path, **filter_keys: Any) -> Any:
    return config_from_mapping({"state_dir": str(tmp_path), "filter": filter_keys})


def test_auto_upstreams_come_from_the_saved_file(tmp_path: Path) -> None:
    save_snapshot(
        tmp_path,
        DnsSnapshot(
            method="resolv.conf",
            global_servers=("192.0.2.1", "[2001:db8::1]:5353", "not-an-ip", "127.0.0.1"),
        ),
    )
    config = _config(tmp_path, upstreams=["auto", "192.0.2.9:53", "192.0.2.1"])
    assert [str(s) for s in upstream_servers(config)] == [
        "192.0.2.1:53",
        "[2001:db8::1]:5353",
        "192.0.2.9:53",
    ]  # 127.0.0.1:53 is our own listener: never an upstream


def test_no_upstream_is_a_clear_error(tmp_path: Path) -> None:
    config = _config(tmp_path, upstreams=["auto"], manage_system_dns=True)
    with pytest.raises(NoUpstreamError, match=SAVED_DNS_FILE):
        upstream_servers(config)


def test_installer_snapshot_format(tmp_path: Path) -> None:
    (tmp_path / SAVED_DNS_FILE).write_text(
        json.dumps(
            {
                "method": "resolv.conf",
                "global_servers": ["192.0.2.53"],
                "interfaces": {"eth0": ["192.0.2.54", "192.0.2.53"]},
            }
        )
    )
    assert saved_servers(tmp_path) == ["192.0.2.53", "192.0.2.54"]


def test_saved_file_garbage_is_ignored(tmp_path: Path) -> None:
    (tmp_path / SAVED_DNS_FILE).write_text("[1, 2")
    assert saved_servers(tmp_path) == []
    (tmp_path / SAVED_DNS_FILE).write_text('{"method": "x", "global_servers": "192.0.2.1"}')
    assert saved_servers(tmp_path) == []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_saved_file_parser_never_raises(tmp_path: Path, data: bytes) -> None:
    (tmp_path / SAVED_DNS_FILE).write_bytes(data)
    for server in saved_servers(tmp_path):
        assert isinstance(server, str)
