"""Client of the service's loopback control API (docs/contracts.md), standard library only.

The UI process (tray, notice window, toasts) and `kiosk-agent session-start` use it. It
imports neither requests nor cryptography, so the UI stays small in memory; proxies from
the environment are ignored, because the API is on loopback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk_agent.config import Config, HostPort
from kiosk_agent.reporting.events import Event

TOKEN_FILE = "control.token"


class ControlError(Exception):
    """The service could not be reached or answered with an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ControlAuthError(ControlError):
    """The service refused the token or the operator PIN (HTTP 401 / 403)."""


def read_token(state_dir: Path) -> str:
    """The control token the service wrote into ``state_dir``; ``ControlError`` if absent."""
    path = state_dir / TOKEN_FILE
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
    _opener: urllib.request.OpenerDirector = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # No proxies: a café's HTTP proxy setting must never see (or break) loopback calls.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_config(cls, config: Config, timeout: float = 5.0) -> ControlClient:
        """A client for the service that ``config`` describes (token from its state_dir)."""
        return cls(base_url(config.control.listen), read_token(config.state_dir), timeout)

    # -- the API -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The service's status object (as `kiosk-agent status --json` prints it)."""
        return self._json("GET", "/v1/status")

    def events(self, after: int, wait: float = 25.0) -> tuple[int, list[dict[str, Any]]]:
        """Events after sequence number ``after``, waiting up to ``wait`` s for the first.

        Returns ``(next, events)``: pass ``next`` as ``after`` to the following call.
        """
        query = urllib.parse.urlencode({"after": after, "wait": f"{wait:g}"})
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
        return self._json("POST", "/v1/operator/update-now", {"pin": pin}, pin=pin)

    def pause(self, pin: str, minutes: int = 15) -> dict[str, Any]:
        """Operator: pause filtering for ``minutes`` (counted as a tamper event)."""
        return self._json("POST", "/v1/operator/pause", {"pin": pin, "minutes": minutes}, pin=pin)

    def today(self, pin: str) -> dict[str, Any]:
        """Operator: today's counts."""
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
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if pin is not None:
            headers["X-Operator-Pin"] = pin
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = _error_detail(e)
            cls = ControlAuthError if e.code in (401, 403) else ControlError
            raise cls(f"{method} {path}: HTTP {e.code}{detail}", e.code) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ControlError(f"the service is not reachable at {self.base}: {reason}") from None
        if not raw:
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ControlError(f"{method} {path}: the answer is not JSON") from None
        if not isinstance(parsed, dict):
            raise ControlError(f"{method} {path}: expected a JSON object")
        return parsed


def _error_detail(e: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(e.read() or b"{}")
    except (ValueError, OSError):
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f": {body['error']}"
    return ""
