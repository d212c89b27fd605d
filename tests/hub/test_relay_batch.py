"""The hub's relay round on the wire: plain hand-offs in one deflated batch, the kiosks'
signed bytes unchanged, and the fallbacks for servers that read no compressed batch."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk_agent.contracts.report import BATCH_ENCODING, decode_batch
from kiosk_agent.hub.relay import HandOff, HubOutbox, forward, parse_hand_off

RID = "0f8fad5b-d9cb-469f-a165-70867728950{}"


@dataclass
class Answer:
    status_code: int
    body: dict[str, Any]

    @property
    def content(self) -> bytes:
        return json.dumps(self.body).encode()

    def json(self) -> dict[str, Any]:
        return self.body


@dataclass
class FakeSession:
    """Records each POST; answers from ``script`` (status per call), then 200."""

    script: list[int] = field(default_factory=list)
    posts: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)

    def post(self, url: str, data: bytes, headers: dict[str, Any], timeout: Any) -> Answer:
        self.posts.append((url, data, headers))
        status = self.script.pop(0) if self.script else 200
        if status != 200:
            return Answer(status, {"error": "x"})
        if url.endswith("/batch"):
            if headers.get("Content-Encoding") == BATCH_ENCODING:
                data = zlib.decompress(data)
            return Answer(200, {"results": ["stored"] * len(decode_batch(data))})
        return Answer(201, {"status": "stored"})


def _outbox(tmp: Path, n: int) -> HubOutbox:
    outbox = HubOutbox(tmp / "hub.sqlite3")
    for i in range(n):
        body = json.dumps({"report_id": RID.format(i), "counts": {"blocked.csam": i}}).encode()
        outbox.hold(
            parse_hand_off(
                {
                    "x-report-id": RID.format(i),
                    "x-kiosk-id": f"kiosk{i}",
                    "x-kiosk-timestamp": "1000",
                    "x-kiosk-signature": "c2ln",
                },
                body,
            ),
            now=1000.0,
        )
    outbox.hold(
        HandOff(RID.format(9), "old", 1000, "c2ln", b"\x1f\x8b gzip bytes", "gzip"), now=1001.0
    )
    return outbox


def test_one_deflated_batch_with_the_signed_bytes(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, 3)
    session = FakeSession()
    result = forward(outbox, session, "https://region.test", 1000.0)
    assert result["sent"] == 4 and result["error"] is None
    [(url, data, headers)] = session.posts
    assert url.endswith("/api/v1/reports/batch")
    assert headers["Content-Encoding"] == "deflate"
    items = decode_batch(zlib.decompress(data))
    assert [i.content_encoding for i in items] == [None, None, None, "gzip"]
    assert (
        items[1].body
        == json.dumps({"report_id": RID.format(1), "counts": {"blocked.csam": 1}}).encode()
    )
    assert items[3].body == b"\x1f\x8b gzip bytes"  # an older kiosk's hand-off, as it was


def test_a_server_without_compressed_batches_gets_it_plain(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, 2)
    session = FakeSession(script=[415])
    result = forward(outbox, session, "https://region.test", 1000.0)
    assert result["sent"] == 3
    assert [p[2].get("Content-Encoding") for p in session.posts] == ["deflate", None]


def test_a_server_without_batches_gets_one_post_each(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path, 2)
    session = FakeSession(script=[404])
    result = forward(outbox, session, "https://region.test", 1000.0)
    assert result["sent"] == 3
    singles = session.posts[1:]
    assert [p[2]["Content-Encoding"] for p in singles] == [None, None, "gzip"]


def test_an_outbox_from_before_plain_hand_offs_reads_as_gzip(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE held (report_id TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL, timestamp "
        "INTEGER NOT NULL, signature TEXT NOT NULL, body BLOB NOT NULL, received REAL NOT "
        "NULL, state TEXT NOT NULL DEFAULT 'held', answered REAL, detail TEXT)"
    )
    db.execute(
        "INSERT INTO held (report_id, kiosk_id, timestamp, signature, body, received) "
        "VALUES (?, 'k', 1000, 'c2ln', x'1f8b', 1000)",
        (RID.format(0),),
    )
    db.commit()
    db.close()
    [held] = HubOutbox(path).held()
    assert held.encoding == "gzip"


def test_lean_client_hello_still_checks_the_certificate(tmp_path: Path) -> None:
    import pytest
    import requests

    from kiosk_agent.hub.relay import OP_TLSEXT_PADDING, lean_client_hello
    from tests.reporting.report_server import ReportServer
    from tests.tls_certs import make_tls_files

    tls = make_tls_files(tmp_path / "tls", ["127.0.0.1"])
    other = make_tls_files(tmp_path / "other", ["127.0.0.1"])
    with ReportServer(tls=tls.server_context()) as server:
        url = f"https://127.0.0.1:{server.port}/test/totals"
        with requests.Session() as session:
            session.verify = str(tls.ca_pem)
            lean_client_hello(session)
            assert session.get(url, timeout=10).status_code == 200
            adapter: Any = session.get_adapter("https://")
            context = adapter.poolmanager.connection_pool_kw["ssl_context"]
            assert not context.options & OP_TLSEXT_PADDING
        with requests.Session() as session:
            session.verify = str(other.ca_pem)  # a server this CA did not sign
            lean_client_hello(session)
            with pytest.raises(requests.exceptions.SSLError):
                session.get(url, timeout=10)


def test_one_write_sends_a_request_in_one_socket_write(tmp_path: Path, monkeypatch: Any) -> None:
    """urllib3 writes a request's head and body apart (two TLS records, two segments);
    the relay's session writes each request once, body intact, through the agent's own
    connection class (direct name lookups)."""
    import http.client

    from kiosk_agent.hub.relay import lean_client_hello, one_write_requests
    from kiosk_agent.net.direct_http import direct_session
    from tests.reporting.report_server import ReportServer
    from tests.tls_certs import make_tls_files

    writes: list[bytes] = []
    original = http.client.HTTPConnection.send

    def counted(self: http.client.HTTPConnection, data: Any) -> None:
        writes.append(bytes(data))
        original(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", counted)
    tls = make_tls_files(tmp_path / "tls", ["127.0.0.1"])
    body = json.dumps({"mode": "ok", "pad": "x" * 900}).encode()
    with ReportServer(tls=tls.server_context()) as server:
        url = f"https://127.0.0.1:{server.port}/test/mode"
        for one_write, expected in ((False, 2), (True, 1)):
            writes.clear()
            with direct_session([], ca_bundle=str(tls.ca_pem)) as session:
                lean_client_hello(session)
                if one_write:
                    one_write_requests(session)
                response = session.post(url, data=body, timeout=10)
                assert response.status_code == 200 and response.json() == {"mode": "ok"}
                response = session.post(url, data=body, timeout=10)
                assert response.status_code == 200
                adapter: Any = session.get_adapter("https://")
                pool = adapter.poolmanager.pool_classes_by_scheme["https"]
                assert pool.__name__.startswith("OneWrite") is one_write
            assert len(writes) == 2 * expected
            assert writes[-1].endswith(body)
            assert writes[-expected].startswith(b"POST /test/mode HTTP/1.1\r\n")
        assert server.state.totals()["requests"] == 4
