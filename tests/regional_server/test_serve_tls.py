"""``kiosk-server serve --tls-cert``: HTTPS without TLS session tickets unless the
settings ask (issue 18: two unused tickets were ≈ 510 bytes of each hub relay round)."""

from __future__ import annotations

import pickle
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from kiosk_agent.net.ports import free_port
from regional_server.settings import SettingsError, settings_from_mapping
from regional_server.tls import apply_ticket_policy, uvicorn_context_factory
from tests.conftest import REPO_ROOT, cli_env
from tests.tls_certs import TlsFiles, make_tls_files


async def _app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
    raise AssertionError("not served")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"), ["127.0.0.1"])


@pytest.mark.parametrize("tickets", [0, 2])
def test_uvicorn_builds_the_context_with_the_tickets(tls: TlsFiles, tickets: int) -> None:
    factory = uvicorn_context_factory(tickets)
    # With --workers > 1 uvicorn sends the config (the factory in it) to each worker.
    factory = pickle.loads(pickle.dumps(factory))
    config = uvicorn.Config(
        _app,
        ssl_certfile=str(tls.cert_pem),
        ssl_keyfile=str(tls.key_pem),
        ssl_context_factory=factory,
    )
    config.load()
    assert config.ssl is not None
    assert config.ssl.num_tickets == tickets
    assert bool(config.ssl.options & ssl.OP_NO_TICKET) == (tickets == 0)


def test_ticket_setting_is_bounded() -> None:
    assert settings_from_mapping({}).tls_session_tickets == 0
    assert settings_from_mapping({"tls_session_tickets": 2}).tls_session_tickets == 2
    for bad in (-1, 11, "2", True, 1.5):
        with pytest.raises(SettingsError, match="tls_session_tickets"):
            settings_from_mapping({"tls_session_tickets": bad})
    with pytest.raises(ValueError):
        apply_ticket_policy(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), 11)
    with pytest.raises(ValueError):
        uvicorn_context_factory(-1)


def _serve(tmp: Path, tls: TlsFiles, extra: list[str], settings: str) -> subprocess.Popen[bytes]:
    env = cli_env()
    env["KIOSK_SERVER_DATA"] = str(tmp / "data")
    env.pop("KIOSK_SERVER_DB", None)
    (tmp / "server.yaml").write_text(settings)
    env["KIOSK_SERVER_CONFIG"] = str(tmp / "server.yaml")
    return subprocess.Popen(
        [sys.executable, "-m", "regional_server", "serve", "--host", "127.0.0.1", *extra],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _tickets_seen(port: int, tls: TlsFiles, proc: subprocess.Popen[bytes]) -> bool:
    """Connect over TLS 1.3, read a whole answer, and say whether a ticket came."""
    context = ssl.create_default_context(cafile=str(tls.ca_pem))
    deadline = time.monotonic() + 60
    while True:
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        assert s.version() == "TLSv1.3"
        s.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ")
        # TLS 1.3 tickets come after the handshake, before the answer: read by now.
        session = s.session
        return session is not None and session.has_ticket


@pytest.mark.parametrize(
    ("workers", "settings", "expected"),
    [("2", "", False), ("1", "tls_session_tickets: 2\n", True)],
)
def test_serve_over_tls_sends_tickets_only_when_asked(
    tmp_path: Path, tls: TlsFiles, workers: str, settings: str, expected: bool
) -> None:
    port = free_port()
    args = ["--port", str(port), "--workers", workers]
    args += ["--tls-cert", str(tls.cert_pem), "--tls-key", str(tls.key_pem)]
    proc = _serve(tmp_path, tls, args, settings)
    try:
        assert _tickets_seen(port, tls, proc) is expected
        if workers == "2":  # the other worker too (each builds its own context)
            assert not any(_tickets_seen(port, tls, proc) for _ in range(5))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def test_serve_refuses_a_key_without_a_certificate(tmp_path: Path, tls: TlsFiles) -> None:
    for args, message in (
        (["--tls-key", str(tls.key_pem)], "--tls-key needs --tls-cert"),
        (["--tls-cert", str(tmp_path / "missing.pem")], "missing.pem"),
    ):
        proc = _serve(tmp_path, tls, ["--port", str(free_port()), *args], "")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and message in err.decode(), err.decode()
