"""The UI process: small imports, and the whole flow on a private Xvfb against a fake
service (billing hook -> notice, blocked events -> one toast per 30 s, events posted)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import tkinter as tk
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from kiosk_agent.config import CafeConfig, Config, NoticesConfig
from kiosk_agent.config_overlay import Overlay, load_effective, save_overlay
from kiosk_agent.platform.base import DesktopSession
from kiosk_agent.service.control_client import ControlClient
from kiosk_agent.ui import UiApp
from tests.conftest import cli_env
from tests.notices.xvfb import shared_xvfb


def test_ui_imports_neither_requests_nor_cryptography() -> None:
    code = (
        "import sys\n"
        "import kiosk_agent.cli, kiosk_agent.ui, kiosk_agent.commands.ui_cmd\n"
        "from kiosk_agent.cli import build_parser; build_parser()\n"
        "import kiosk_agent.notices.window, kiosk_agent.notices.tray, kiosk_agent.notices.dialogs\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'cryptography'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


class FakeService(BaseHTTPRequestHandler):
    batches: ClassVar[list[list[dict[str, Any]]]] = []
    posted: ClassVar[list[dict[str, Any]]] = []
    first_events_at: ClassVar[list[float]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/v1/events"):
            if self.batches:
                self.first_events_at.append(time.monotonic())
                batch = self.batches.pop(0)
                self._reply({"next": batch[-1]["seq"], "events": batch})
            else:
                time.sleep(0.3)
                self._reply({"next": 99, "events": []})
        else:
            self._reply({"protected": True, "filter": {"lists": []}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.posted.append(json.loads(self.rfile.read(length)))
        self._reply({"status": "published"})


@pytest.fixture
def service() -> Iterator[str]:
    FakeService.batches = [
        # The backlog from before the UI started: must not replay as a notice or toast.
        [
            {"seq": 1, "type": "session_signal", "trigger": "billing_hook"},
            {"seq": 2, "type": "blocked", "category": "c1"},
        ],
        [
            {"seq": 3, "type": "session_signal", "trigger": "billing_hook"},
            {"seq": 4, "type": "blocked", "category": "c1"},
            {"seq": 5, "type": "blocked", "category": "c1"},
            # An HTTPS visit the URL proxy let through: counted, not a block, no toast.
            {"seq": 6, "type": "blocked", "category": "url_unverifiable"},
        ],
    ]
    FakeService.posted = []
    FakeService.first_events_at = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class NoSignals:
    def desktop_sessions(self) -> list[DesktopSession]:
        return []

    def idle_seconds(self) -> float | None:
        return None


def test_billing_hook_shows_the_notice_and_blocked_events_toast_once(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(
        cafe=CafeConfig(country="KE", languages=("sw", "en")),
        notices=NoticesConfig(triggers=("billing_hook",), min_display=0.3, min_gap=0),
    )
    monkeypatch.setenv("DISPLAY", shared_xvfb(1024, 768))
    root = tk.Tk()
    app = UiApp(config, ControlClient(service, "t"), NoSignals(), root=root, with_tray=False)
    try:
        app.start()
        deadline = time.monotonic() + 10
        while not app.notice.is_open and time.monotonic() < deadline:
            root.update()
            time.sleep(0.01)
        assert app.notice.is_open, "the notice never appeared"
        assert len(FakeService.first_events_at) == 2  # the backlog, then the live batch
        latency = time.monotonic() - FakeService.first_events_at[1]
        assert latency < 1.0, f"notice took {latency:.2f} s after the billing hook"
        assert app.notice.locale.code == "sw"
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            root.update()
            time.sleep(0.01)
        assert app.toasts.top is not None  # one toast...
        assert app.toast_gate.suppressed == 1  # ...and the second blocked event held back
        posted_types = [p["type"] for p in FakeService.posted]
        assert posted_types[:2] == ["session_started", "notice_shown"]
        assert FakeService.posted[0]["trigger"] == "billing_hook"
        assert FakeService.posted[1]["locale"] == "sw"
    finally:
        app.stop()
        root.destroy()


def test_a_new_overlay_changes_the_languages_before_the_next_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agent.yaml"
    local = {
        "state_dir": str(tmp_path / "state"),
        "cafe": {"country": "KE", "languages": ["sw", "en"]},
        "notices": {"min_display": "5s", "triggers": ["login"]},
    }
    path.write_text(yaml.safe_dump(local))
    config = load_effective(path)
    monkeypatch.setenv("DISPLAY", shared_xvfb(1024, 768))
    root = tk.Tk()
    app = UiApp(config, None, NoSignals(), root=root, with_tray=False)
    try:
        assert app.languages == ["sw", "en"]
        save_overlay(
            config.state_dir,
            Overlay(
                1,
                "settings-KE-NBO",
                "DEMO",
                {"cafe": {"languages": ["pt", "en"]}, "notices": {"min_display": "3s"}},
            ),
        )
        app.show_notice()
        assert app.languages == ["pt", "en"] and app.notice.languages == ["pt", "en"]
        assert app.notice.locale.code == "pt"
        assert app.notice.min_display == 3.0
        assert app.watcher.policy.triggers == frozenset({"login"})
    finally:
        if app.notice.is_open:
            app.notice.close()
        root.destroy()


class _OperatorClient:
    """Records the operator calls the tray's PIN dialog leads to."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def postpone_update(self, pin: str) -> dict[str, Any]:
        self.calls.append(("postpone_update", pin))
        return {"status": "postponed", "until": 0}


def test_the_tray_postpones_a_program_update_with_the_pin() -> None:
    from types import SimpleNamespace

    from kiosk_agent.content.locales import load_locale

    client = _OperatorClient()
    shown: list[tuple[str, str]] = []
    done = threading.Event()

    def call_soon(fn: Any) -> None:
        fn()
        done.set()

    fake = SimpleNamespace(
        locale=load_locale("fr"),
        client=client,
        call_soon=call_soon,
        toasts=SimpleNamespace(show=lambda _loc, title, message: shown.append((title, message))),
    )
    UiApp._run_operator(fake, "postpone-update", "2468")  # type: ignore[arg-type]
    assert done.wait(10)
    assert client.calls == [("postpone_update", "2468")]
    assert shown == [("Gérant du cybercafé", "Reporter d'un jour les mises à jour du programme")]
