"""Client of the service's loopback control API (docs/contracts.md), standard library only.

The UI process (tray, notice window, toasts) and `kiosk-agent session-start` use it. It
speaks HTTP/1.1 over a plain socket: the API is plain HTTP on loopback, and
``http.client`` / ``urllib.request`` would pull ``ssl`` and ``email`` into the UI process
(about 7 MB of its 40 MB budget, measured). For the same reason it imports neither
requests nor cryptography. No proxy is ever involved.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk_agent.config import Config, HostPort
from kiosk_agent.reporting.events import Event
from kiosk_agent.service.control_token import TOKEN_FILE, check_service_identity, client_token_path

__all__ = ["TOKEN_FILE", "ControlAuthError", "ControlClient", "ControlError", "read_token"]


class ControlError(Exception):
    """The service could not be reached or answered with an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ControlAuthError(ControlError):
    """The service refused the token or the operator PIN (HTTP 401 / 403)."""


def read_token(state_dir: Path, path: Path | None = None) -> str:
    """The control token the service wrote into ``state_dir`` (or ``path``); ``ControlError``
    if absent."""
    path = path or state_dir / TOKEN_FILE
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ControlError(f"cannot read the control token {path}: {e.strerror or e}") from None
    if not token:
        raise ControlError(f"the control token file {path} is empty")
    return token


def base_url(listen: HostPort) -> str:
    return f"http://{listen}"


@dataclass
class ControlClient:
    """Calls the control API at ``base`` (``http://127.0.0.1:8053``) with ``token``."""

    base: str
    token: str
    timeout: float = 5.0
    token_path: Path | None = None
    """Where the token came from: the listener must be its owner before a PIN is sent."""

    @classmethod
    def from_config(cls, config: Config, timeout: float = 5.0) -> ControlClient:
        """A client for the service that ``config`` describes (token from its state_dir)."""
        path = client_token_path(config.state_dir)
        token = read_token(config.state_dir, path)
        return cls(base_url(config.control.listen), token, timeout, path)

    def check_service(self) -> None:
        """``ControlAuthError`` unless the control port's listener is the service that wrote
        the token (Linux, /proc/net/tcp); called before an operator PIN is sent."""
        if self.token_path is None:
            return
        host, port = split_base(self.base)
        problem = check_service_identity(host, port, self.token_path)
        if problem is not None:
            raise ControlAuthError(f"not sending the PIN: {problem}")

    # -- the API -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The service's status object (as `kiosk-agent status --json` prints it)."""
        return self._json("GET", "/v1/status")

    def events(self, after: int, wait: float = 25.0) -> tuple[int, list[dict[str, Any]]]:
        """Events after sequence number ``after``, waiting up to ``wait`` s for the first.

        Returns ``(next, events)``: pass ``next`` as ``after`` to the following call.
        """
        query = f"after={int(after)}&wait={wait:g}"
        body = self._json("GET", f"/v1/events?{query}", timeout=wait + self.timeout)
        events = body.get("events")
        nxt = body.get("next")
        if not isinstance(events, list) or not isinstance(nxt, int):
            raise ControlError("malformed events answer from the service")
        return nxt, [e for e in events if isinstance(e, dict)]

    def post_event(self, event: Event | Mapping[str, str]) -> None:
        """Report a UI event (NoticeShown, NoticeAcknowledged, SessionStarted) to the service."""
        data = event.to_dict() if isinstance(event, Event) else dict(event)
        self._json("POST", "/v1/events", data)

    def session_start(self, trigger: str = "billing_hook") -> dict[str, Any]:
        """Tell the service a customer session starts (the UI then shows the notice)."""
        return self._json("POST", "/v1/session-start", {"trigger": trigger})

    def update_now(self, pin: str) -> dict[str, Any]:
        """Operator: check the feeds for a new list now."""
        self.check_service()
        return self._json("POST", "/v1/operator/update-now", {"pin": pin}, pin=pin)

    def pause(self, pin: str, minutes: int = 15) -> dict[str, Any]:
        """Operator: pause filtering for ``minutes`` (counted as a tamper event)."""
        self.check_service()
        return self._json("POST", "/v1/operator/pause", {"pin": pin, "minutes": minutes}, pin=pin)

    def postpone_update(self, pin: str) -> dict[str, Any]:
        """Hold program updates for a day (``POST /v1/operator/postpone-update``)."""
        return self._json("POST", "/v1/operator/postpone-update", {"pin": pin}, pin=pin)

    def today(self, pin: str) -> dict[str, Any]:
        """Operator: today's counts."""
        self.check_service()
        return self._json("GET", "/v1/operator/today", pin=pin)

    # -- plumbing ------------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        body: Mapping[str, object] | None = None,
        *,
        pin: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = b""
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if pin is not None:
            headers["X-Operator-Pin"] = pin
        host, port = split_base(self.base)
        try:
            raw = _exchange(host, port, method, path, headers, data, timeout or self.timeout)
        except OSError as e:
            reason = e.strerror or e.__class__.__name__
            raise ControlError(f"the service is not reachable at {self.base}: {reason}") from None
        status, payload = parse_response(raw)
        if status >= 400:
            cls = ControlAuthError if status in (401, 403) else ControlError
            raise cls(f"{method} {path}: HTTP {status}{_error_detail(payload)}", status)
        if not payload:
            return {}
        try:
            parsed = json.loads(payload)
        except ValueError:
            raise ControlError(f"{method} {path}: the answer is not JSON") from None
        if not isinstance(parsed, dict):
            raise ControlError(f"{method} {path}: expected a JSON object")
        return parsed


MAX_RESPONSE = 4 * 2**20


def split_base(base: str) -> tuple[str, int]:
    """``("127.0.0.1", 8053)`` from ``http://127.0.0.1:8053`` (or ``http://[::1]:8053``)."""
    rest = base.removeprefix("http://").rstrip("/")
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]:")
    else:
        host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ControlError(f"not a control API address: {base!r}")
    return host, int(port)


def _exchange(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    timeout: float,
) -> bytes:
    """Send one request (``Connection: close``) and read the whole response."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    chunks: list[bytes] = []
    size = 0
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE:
                raise ControlError("the service's answer is too large")
    return b"".join(chunks)


def parse_response(raw: bytes) -> tuple[int, bytes]:
    """(status, body) of an HTTP/1.x response read to the end; ``ControlError`` if malformed.

    Understands ``Content-Length`` and ``Transfer-Encoding: chunked`` bodies, and bodies
    ended by the connection closing.
    """
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ControlError("incomplete answer from the service")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ControlError("the service did not answer with HTTP")
    status = int(parts[1])
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ControlError("malformed header in the service's answer")
        fields[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if fields.get("transfer-encoding", "").lower() == "chunked":
        return status, _dechunk(rest)
    length = fields.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > len(rest):
            raise ControlError("truncated answer from the service")
        return status, rest[: int(length)]
    return status, rest


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            raise ControlError("truncated chunked answer")
        size_text = data[pos:end].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ControlError("malformed chunk size") from None
        if size < 0:
            raise ControlError("malformed chunk size")
        if size == 0:
            return b"".join(out)
        start = end + 2
        if start + size + 2 > len(data):
            raise ControlError("truncated chunked answer")
        out.append(data[start : start + size])
        pos = start + size + 2


def _error_detail(payload: bytes) -> str:
    try:
        body = json.loads(payload or b"{}")
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f": {body['error']}"
    return ""
