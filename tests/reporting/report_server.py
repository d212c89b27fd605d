"""A small regional-server stand-in for the kiosk's tests (stdlib only, loopback).

It does what the real server's ingest does, enough to prove the kiosk side: enrollment
with one-time codes, Ed25519 verification of ``schema.signing_string`` with a timestamp
window, de-duplication by ``report_id``, and summing counts. ``mode`` injects failures.
Run in a thread (``ReportServer``) or as a process:
``python -m tests.reporting.report_server [--code CODE]`` prints ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import secrets
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk_agent.contracts.report import (
    HEADER_KIOSK_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SIGNATURE_WINDOW_SECONDS,
    ReportError,
    parse_report,
    signing_string,
)


@dataclass
class ServerState:
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (region, country)
    kiosks: dict[str, bytes] = field(default_factory=dict)  # kiosk id -> raw public key
    report_ids: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    requests: int = 0
    bytes_in: int = 0
    mode: str = "ok"  # ok | error500 | store_then_500 | unauthorized
    lock: threading.Lock = field(default_factory=threading.Lock)

    def totals(self) -> dict[str, Any]:
        with self.lock:
            return {
                "counts": dict(self.counts),
                "reports": len(self.report_ids),
                "duplicates": self.duplicates,
                "rejected": list(self.rejected),
                "requests": self.requests,
                "bytes_in": self.bytes_in,
                "merged": [r.get("merged_reports", 1) for r in self.reports],
            }


class _Handler(BaseHTTPRequestHandler):
    server_version = "test"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> ServerState:
        return self.server.state  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, code: int, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/test/totals":
            self._reply(200, self.state.totals())
        else:
            self._reply(404, {"detail": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        head = len(self.requestline) + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        with self.state.lock:
            self.state.requests += 1
            self.state.bytes_in += head + 4 + len(body)
        if self.path == "/api/v1/enroll":
            self._enroll(body)
        elif self.path == "/api/v1/reports":
            self._report(body)
        elif self.path == "/test/mode":
            self.state.mode = json.loads(body)["mode"]
            self._reply(200, {"mode": self.state.mode})
        else:
            self._reply(404, {"detail": "not found"})

    def _enroll(self, body: bytes) -> None:
        data = json.loads(body)
        code = data.get("code")
        if code not in self.state.codes:
            self._reply(403, {"detail": "unknown or used enrollment code"})
            return
        region, country = self.state.codes.pop(code)
        key_text = data.get("public_key", "")
        if not key_text.startswith("ed25519:"):
            self._reply(400, {"detail": "bad public key"})
            return
        kiosk_id = "k" + secrets.token_hex(8)
        with self.state.lock:
            self.state.kiosks[kiosk_id] = base64.b64decode(key_text[8:])
        self._reply(201, {"kiosk_id": kiosk_id, "region": region, "country": country})

    def _report(self, body: bytes) -> None:
        state = self.state
        if state.mode == "error500":
            self._reply(500, {"detail": "injected failure"})
            return
        kiosk_id = self.headers.get(HEADER_KIOSK_ID, "")
        key = state.kiosks.get(kiosk_id)
        if key is None or state.mode == "unauthorized":
            self._reply(401, {"detail": "unknown kiosk"})
            return
        try:
            timestamp = int(self.headers.get(HEADER_TIMESTAMP, ""))
            signature = base64.b64decode(self.headers.get(HEADER_SIGNATURE, ""), validate=True)
        except (ValueError, binascii.Error):
            self._reply(401, {"detail": "missing signature headers"})
            return
        if abs(timestamp - time.time()) > SIGNATURE_WINDOW_SECONDS:
            self._reply(401, {"detail": "timestamp outside the allowed window"})
            return
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(
                signature, signing_string("POST", self.path, timestamp, body)
            )
        except InvalidSignature:
            self._reply(401, {"detail": "bad signature"})
            return
        try:
            report = parse_report(body, self.headers.get("Content-Encoding"))
        except ReportError as e:
            with state.lock:
                state.rejected.append(str(e))
            self._reply(422, {"detail": str(e)})
            return
        if report.kiosk_id != kiosk_id:
            self._reply(422, {"detail": "kiosk_id does not match the signer"})
            return
        with state.lock:
            if report.report_id in state.report_ids:
                state.duplicates += 1
                status, code = "duplicate", 200
            else:
                state.report_ids.add(report.report_id)
                state.reports.append(report.to_json())
                for name, n in report.counts.items():
                    state.counts[name] = state.counts.get(name, 0) + n
                status, code = "stored", 201
        if state.mode == "store_then_500":
            self._reply(500, {"detail": "stored, then failed"})
            return
        self._reply(code, {"status": status})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a killed kiosk resets its connection: expected in the crash test


class ReportServer:
    """The stand-in, serving on 127.0.0.1 (ephemeral port) in a thread."""

    def __init__(
        self, codes: dict[str, tuple[str, str]] | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.state = ServerState(codes=dict(codes or {}))
        self.httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self.httpd.state = self.state  # type: ignore[attr-defined]
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ReportServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="test stand-in for the regional server")
    parser.add_argument("--code", action="append", default=[], help="a one-time code")
    args = parser.parse_args(argv)
    server = ReportServer({c: ("KE-NBO", "KE") for c in args.code})
    print(f"PORT {server.port}", flush=True)
    server.httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
