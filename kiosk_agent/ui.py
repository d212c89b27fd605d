"""`kiosk-agent ui`: what runs in the customer's desktop session.

Threads, and why:
- the Tk main loop on the main thread (Tk must stay in the thread that created it): the
  notice, toasts, PIN prompt; other threads hand it work through ``call_soon`` (a queue
  the Tk loop drains every ``POLL_MS``), never by touching Tk themselves;
- the session watcher (polls logins and idle time once a second);
- the event stream: long-polls the service for ``blocked`` events (toasts) and billing
  hook signals;
- the status poller: refreshes the tray icon and menu every ``STATUS_EVERY`` seconds;
- the outbox: posts the UI's events (NoticeShown, NoticeFeedback, NoticeAcknowledged,
  SessionStarted) to the service, retrying while it is unreachable, so the Tk loop never
  waits for HTTP;
- pystray's own thread for the tray icon.

It talks to the service only through ``control_client`` (standard library HTTP): this
process imports neither requests nor cryptography, so it idles small.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import tkinter as tk
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kiosk_agent.config import Config
from kiosk_agent.config_live import overlay_mark, take_live
from kiosk_agent.content import active as content_active
from kiosk_agent.content.countries import contact_lines, country_for
from kiosk_agent.content.locales import LocaleError, choose_locale, load_locale, shipped_codes
from kiosk_agent.notices.rotation import TipRotation
from kiosk_agent.notices.sessions import Policy, SessionWatcher
from kiosk_agent.notices.shaping import notice_languages
from kiosk_agent.notices.tray import (
    ToastGate,
    Tray,
    TrayActions,
    menu_entries,
    status_text,
    today_text,
    tray_state,
)
from kiosk_agent.notices.window import NoticeWindow
from kiosk_agent.platform.base import SessionSignals
from kiosk_agent.reporting.events import Event, SessionStarted
from kiosk_agent.service.control_client import ControlAuthError, ControlClient, ControlError

log = logging.getLogger(__name__)


def ui_languages(config: Config) -> list[str]:
    """The café's languages the UI can draw (toasts and menus too: shaping.py)."""
    available = set(shipped_codes())
    languages = [c for c in config.cafe.languages if c in available]
    drawable, _shaping = notice_languages(
        languages or [choose_locale(config.cafe.languages, available)]
    )
    return list(drawable)


POLL_MS = 100
STATUS_EVERY = 30.0
EVENTS_WAIT = 25.0
RETRY_EVERY = 10.0
OUTBOX_LIMIT = 1000


class UiApp:
    """Watcher, notice window, tray and toasts for one desktop session."""

    def __init__(
        self,
        config: Config,
        client: ControlClient | None,
        signals: SessionSignals,
        *,
        root: tk.Tk | None = None,
        with_tray: bool = True,
    ) -> None:
        self.config = config
        self.client = client
        self.root = root or tk.Tk(className="kiosk-agent")
        self.root.withdraw()
        # Texts and helplines come from the content pack applied in the state folder
        # (content/active.py): a new pack shows at the next notice, without a restart.
        content_active.use_state_dir(config.state_dir)
        self.languages = ui_languages(config)
        # A settings overlay applied later changes the languages, min_display and the
        # triggers before the next notice (config_live.py), without restarting the UI.
        self._settings_mark = overlay_mark(config.state_dir)
        self.locale = load_locale(self.languages[0])
        self.country = country_for(config.cafe.country)
        self.calls: queue.Queue[Callable[[], None]] = queue.Queue()
        self.outbox: collections.deque[Event] = collections.deque(maxlen=OUTBOX_LIMIT)
        self._outbox_wake = threading.Event()
        self._stop = threading.Event()
        self.status: dict[str, Any] | None = None
        self.toast_gate = ToastGate()
        from kiosk_agent.notices.toast import ToastWindow

        self.toasts = ToastWindow(self.root)
        self.notice = NoticeWindow(
            self.root,
            languages=self.languages,
            country=self.country,
            min_display=config.notices.min_display,
            font_size=config.notices.font_size,
            on_event=self.report,
            on_close=self._after_notice,
            rotation=TipRotation(config.state_dir),
        )
        self.watcher = SessionWatcher(signals, Policy.from_config(config.notices), self._on_session)
        self.tray: Tray | None = (
            Tray("kiosk-agent", on_click=lambda: self.call_soon(self._popup_menu))
            if with_tray
            else None
        )
        self.session_shown_at: float | None = None  # for the latency benchmark

    # -- thread hand-off ---------------------------------------------------------------

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the Tk thread (safe from any thread)."""
        self.calls.put(fn)

    def _drain(self) -> None:
        while True:
            try:
                fn = self.calls.get_nowait()
            except queue.Empty:
                break
            try:
                fn()
            except Exception:
                log.exception("UI action failed")
        if not self._stop.is_set():
            self.root.after(POLL_MS, self._drain)

    # -- sessions and the notice ------------------------------------------------------

    def _on_session(self, event: SessionStarted) -> None:  # watcher thread
        self.report(event)
        self.call_soon(self.show_notice)

    def _refresh_settings(self) -> None:
        """Take a newly applied settings overlay's live keys (two ``stat`` when unchanged)."""
        mark = overlay_mark(self.config.state_dir)
        if mark == self._settings_mark:
            return
        self._settings_mark = mark
        taken = take_live(self.config)
        if taken is None or not taken.live:
            return
        log.info("settings taken without a restart: %s", ", ".join(taken.live))
        self.config = taken.config
        self.languages = ui_languages(self.config)
        self.notice.languages = self.languages
        self.notice.min_display = self.config.notices.min_display
        self.watcher.policy = Policy.from_config(self.config.notices)
        if self.locale.code not in self.languages:
            self.locale = load_locale(self.languages[0])

    def _refresh_content(self) -> None:
        """Take the content pack applied now (cached per pack folder: cheap when unchanged)."""
        self._refresh_settings()
        try:
            self.locale = load_locale(self.locale.code)
        except LocaleError:
            self.locale = load_locale(self.languages[0])
        self.country = country_for(self.config.cafe.country)
        self.notice.country = self.country

    def show_notice(self) -> None:
        self._refresh_content()
        self.notice.show(self.locale.code)
        self.session_shown_at = time.monotonic()

    def set_language(self, code: str) -> None:
        self.locale = load_locale(code)
        if self.notice.is_open:
            self.notice.set_locale(code)
        self._refresh_tray()

    def report(self, event: Event) -> None:
        """Queue a UI event for the service (never blocks the caller)."""
        self.outbox.append(event)
        self._outbox_wake.set()

    def _after_notice(self) -> None:
        self.root.after(500, release_notice_memory)

    # -- tray ----------------------------------------------------------------------------

    def actions(self) -> TrayActions:
        lines = contact_lines(self.locale, self.country)
        report: Callable[[], None] | None = None
        if lines.report_url is not None:
            url = lines.report_url

            def report() -> None:
                self.call_soon(lambda: _open_url(url))

        return TrayActions(
            show_notice=lambda: self.call_soon(self.show_notice),
            set_language=lambda code: self.call_soon(lambda: self.set_language(code)),
            report_abuse=report,
            helpline=lambda: self.call_soon(self._show_helpline),
            operator=lambda action: self.call_soon(lambda: self._operator(action)),
        )

    def _refresh_tray(self) -> None:
        if self.tray is None:
            return
        self._refresh_settings()
        line = status_text(self.locale, self.status, time.time())
        entries = menu_entries(self.locale, self.languages, line, self.actions())
        self.tray.update(tray_state(self.status), entries, line.replace("\u200b", ""))

    def _popup_menu(self) -> None:
        from kiosk_agent.notices.dialogs import PopupMenu

        line = status_text(self.locale, self.status, time.time())
        PopupMenu(self.root).popup(
            menu_entries(self.locale, self.languages, line, self.actions()), self.locale
        )

    def _show_helpline(self) -> None:
        self._refresh_content()
        lines = contact_lines(self.locale, self.country)
        self.toasts.show(self.locale, self.locale.text("tray.helpline"), lines.helpline)

    def _operator(self, action: str) -> None:
        from kiosk_agent.notices.dialogs import ask_pin

        ask_pin(self.root, self.locale, lambda pin: self._run_operator(action, pin))

    def _run_operator(self, action: str, pin: str) -> None:
        loc = self.locale

        def work() -> None:
            assert self.client is not None
            try:
                if action == "update-now":
                    self.client.update_now(pin)
                    message = loc.text("tray.updating")
                elif action == "pause":
                    self.client.pause(pin, 15)
                    message = loc.text("tray.pause")
                elif action == "postpone-update":
                    self.client.postpone_update(pin)
                    message = loc.text("tray.postpone_update")
                else:
                    message = today_text(loc, self.client.today(pin))
            except ControlAuthError:
                message = loc.text("tray.wrong_pin")
            except ControlError as e:
                message = f"{loc.text('tray.problem')}: {e}"
            self.call_soon(lambda: self.toasts.show(loc, loc.text("tray.operator"), message))

        if self.client is None:
            self.toasts.show(loc, loc.text("tray.operator"), loc.text("tray.problem"))
            return
        threading.Thread(target=work, name="operator", daemon=True).start()

    # -- service connections --------------------------------------------------------------

    def _event_stream(self) -> None:
        after: int | None = None
        while not self._stop.is_set():
            if self.client is None:
                return
            try:
                if after is None:
                    # Start from "now": the backlog holds blocked events and session
                    # signals from before this UI started; replaying them would show a
                    # stale toast or notice.
                    after, _backlog = self.client.events(0, 0)
                    continue
                after, events = self.client.events(after, EVENTS_WAIT)
            except ControlError:
                self._stop.wait(RETRY_EVERY)
                continue
            for item in events:
                kind = item.get("type")
                # "url_unverifiable" counts an HTTPS visit the URL proxy let through
                # (filter/proxy/decide.py URL_UNVERIFIABLE): nothing was blocked, no toast.
                if kind == "blocked" and item.get("category") != "url_unverifiable":
                    self.call_soon(self._blocked_toast)
                elif kind == "session_signal":
                    self.watcher.billing_hook()

    def _blocked_toast(self) -> None:
        if not self.toast_gate.allow():
            return
        self._refresh_content()
        loc = self.locale
        title, body = loc.text("toast.title"), loc.text("toast.body")
        if self.tray is not None and self.tray.notify(body.replace("\u200b", ""), title):
            return
        self.toasts.show(loc, title, body)

    def _status_loop(self) -> None:
        while not self._stop.is_set():
            status = None
            if self.client is not None:
                try:
                    status = self.client.status()
                except ControlError:
                    status = None
            self.status = status
            self.call_soon(self._refresh_tray)
            self._stop.wait(STATUS_EVERY)

    def _outbox_loop(self) -> None:
        while not self._stop.is_set():
            self._outbox_wake.wait(RETRY_EVERY)
            self._outbox_wake.clear()
            while self.outbox and self.client is not None:
                event = self.outbox[0]
                try:
                    self.client.post_event(event)
                except ControlError as e:
                    if e.status is not None and 400 <= e.status < 500 and e.status != 429:
                        self.outbox.popleft()  # refused for good: do not retry forever
                        log.warning("service refused %s: %s", event.event_type, e)
                        continue
                    break  # unreachable: keep it, retry later
                self.outbox.popleft()

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Start every thread (the Tk loop is ``run``'s)."""
        for target, name in (
            (self._event_stream, "events"),
            (self._status_loop, "status"),
            (self._outbox_loop, "outbox"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()
        if self.tray is not None:
            self.tray.start()
        self.watcher.start()
        self.root.after(POLL_MS, self._drain)

    def run(self) -> None:
        self.start()
        try:
            self.root.mainloop()
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._outbox_wake.set()
        self.watcher.stop()
        if self.tray is not None:
            self.tray.stop()


def _open_url(url: str) -> None:
    import webbrowser  # rarely used: not loaded at start

    webbrowser.open(url)


def warm_up(languages: Sequence[str] = ()) -> None:
    """Load the fonts the café's ``languages`` use (and Latin), so the first notice
    appears without that delay; only those: each font costs memory while the UI runs."""
    from kiosk_agent.notices.render import coverage

    for script in {"Latn", *(load_locale(code).script for code in languages)}:
        coverage(script)


def _libc() -> Any:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def limit_malloc_arenas() -> None:
    """One malloc arena per thread would keep each thread's freed memory resident; the UI
    has six mostly idle threads, so two shared arenas are plenty (glibc; no-op elsewhere)."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is not None:
        mallopt(-8, 2)  # M_ARENA_MAX


def release_notice_memory() -> None:
    """After a notice closed: drop the sized fonts and cached line breaks (each sized font
    holds its own FreeType face) and hand the freed heap back. The next notice reloads
    them in a few milliseconds; the UI then idles for hours without them."""
    import gc

    from kiosk_agent.notices.layout import icon_image
    from kiosk_agent.notices.render import font, wrap_cache_clear

    font.cache_clear()
    wrap_cache_clear()
    icon_image.cache_clear()
    gc.collect()
    trim_memory()
    page_out_text_engines()


# Pillow's text engines (its bundled copies and the system's): only drawing text uses them.
TEXT_ENGINES = ("libharfbuzz", "libfreetype", "libfribidi", "libraqm")
MADV_PAGEOUT = 21  # Linux 5.4+


def page_out_text_engines(maps: str = "/proc/self/maps") -> int:
    """Ask Linux to drop the text engines' pages from this process's resident set
    (``madvise(MADV_PAGEOUT)``); returns how many mappings were advised.

    Drawing a notice touches about 1 MB of HarfBuzz and FreeType code that then sits in
    the UI's RSS for hours. Those pages are the library files' own (clean, shared with
    the page cache): paged out, they stay cached and the next notice maps them back in
    well under a millisecond. Private data pages are not lost: the kernel swaps them
    or, without swap, leaves them; pages another process also has mapped stay (on a
    kiosk no other process draws text). Best effort: any failure (older kernel, no
    /proc, Windows) leaves memory as it was.
    """
    try:
        import ctypes

        text = Path(maps).read_text()
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    advised = 0
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not any(name in fields[5] for name in TEXT_ENGINES):
            continue
        low, _, high = fields[0].partition("-")
        try:
            start, end = int(low, 16), int(high, 16)
        except ValueError:
            continue
        if madvise(start, end - start, MADV_PAGEOUT) == 0:
            advised += 1
    return advised


def trim_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise): the notice's large
    images are freed when it closes, and the UI then idles for hours."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim(0)
