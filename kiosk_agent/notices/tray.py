"""The tray icon (pystray), its menu, and the rate limit for "page blocked" toasts.

The menu is first built as plain ``Entry`` objects from the current state (pure, tested
without any toolkit), then turned into a ``pystray.Menu``. pystray's plain-X11 backend
has no menus; there a click on the icon opens the same entries as a Tk popup menu whose
labels are Pillow-drawn images (Tk cannot shape Arabic or Khmer menu text either).

pystray is imported only when the icon is created: importing it picks a backend and
connects to the display at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image, ImageDraw

from kiosk_agent.content.locales import Locale, load_locale

log = logging.getLogger(__name__)

TrayState = Literal["protected", "updating", "problem"]
TOAST_INTERVAL = 30.0
STATE_COLORS: dict[str, tuple[int, int, int]] = {
    "protected": (46, 125, 91),  # green
    "updating": (41, 128, 185),  # blue
    "problem": (211, 84, 0),  # orange: needs the operator, not an alarm for the customer
}


# -- status -> what the tray shows (pure) ----------------------------------------------


def tray_state(status: Mapping[str, Any] | None) -> TrayState:
    """The icon state from the service's status object (None: service unreachable)."""
    if not status:
        return "problem"
    updater = status.get("components", {}).get("updater", {})
    last = (status.get("filter") or {}).get("last_update") or {}
    if updater.get("updating") or last.get("result") == "running":
        return "updating"
    return "protected" if status.get("protected") else "problem"


def list_age_hours(status: Mapping[str, Any] | None, now: float) -> int | None:
    """Hours since the newest list was applied, from ``filter.lists[].updated_at``."""
    if not status:
        return None
    lists = (status.get("filter") or {}).get("lists") or []
    times = [e.get("updated_at") for e in lists if isinstance(e, Mapping)]
    stamps = [t for t in times if isinstance(t, int | float)]
    if not stamps:
        return None
    return max(0, int((now - max(stamps)) // 3600))


def status_text(locale: Locale, status: Mapping[str, Any] | None, now: float) -> str:
    state = tray_state(status)
    if state == "updating":
        return locale.text("tray.updating")
    if state == "problem":
        return locale.text("tray.problem")
    hours = list_age_hours(status, now)
    return locale.text("tray.protected", hours=hours if hours is not None else "?")


def today_text(locale: Locale, answer: Mapping[str, Any]) -> str:
    """``tray.today_line`` from ``GET /v1/operator/today`` (``{"counts": {name: n}}``)."""
    counts = answer.get("counts", answer)
    if not isinstance(counts, Mapping):
        counts = {}

    def total(prefix: str) -> int:
        return sum(
            int(v)
            for k, v in counts.items()
            if isinstance(k, str) and k.startswith(prefix) and isinstance(v, int)
        )

    return today_line(locale, total("sessions."), total("notices.shown."), total("blocked."))


def today_line(locale: Locale, sessions: int, notices: int, blocked: int) -> str:
    """ "Today: 1 session, 3 notices, 2 pages blocked": each count takes its own CLDR plural
    form (``tray.sessions`` ...), so one sentence can hold three counts."""
    return locale.text(
        "tray.today_line",
        sessions=locale.text("tray.sessions", sessions=sessions),
        notices=locale.text("tray.notices", notices=notices),
        blocked=locale.text("tray.blocked", blocked=blocked),
    )


class ToastGate:
    """At most one toast per ``interval`` seconds; the clock is injectable for tests."""

    def __init__(
        self, interval: float = TOAST_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._last: float | None = None
        self.suppressed = 0

    def allow(self) -> bool:
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return False
        self._last = now
        return True


# -- the menu as data ------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One menu item. ``action`` None: a disabled line (the status); ``checked`` for radios."""

    key: str
    label: str
    action: Callable[[], None] | None = None
    children: tuple[Entry, ...] = ()
    checked: bool | None = None


@dataclass
class TrayActions:
    """What the menu items do; the UI supplies them (each runs on the UI thread)."""

    show_notice: Callable[[], None]
    set_language: Callable[[str], None]
    report_abuse: Callable[[], None] | None  # None: no report address for this country
    helpline: Callable[[], None]
    operator: Callable[[str], None]  # "update-now" | "pause" | "postpone-update" | "today"


def menu_entries(
    locale: Locale, languages: Sequence[str], status_line: str, actions: TrayActions
) -> list[Entry]:
    """The tray menu for the current language and status."""
    t = locale.text
    entries = [
        Entry("status", status_line),
        Entry("show_notice", t("tray.show_notice"), actions.show_notice),
    ]
    if len(languages) > 1:
        entries.append(
            Entry(
                "language",
                t("tray.language"),
                children=tuple(
                    Entry(
                        f"language.{code}",
                        load_locale(code).name,
                        _bind(actions.set_language, code),
                        checked=code == locale.code,
                    )
                    for code in languages
                ),
            )
        )
    if actions.report_abuse is not None:
        entries.append(Entry("report_abuse", t("tray.report_abuse"), actions.report_abuse))
    entries.append(Entry("helpline", t("tray.helpline"), actions.helpline))
    entries.append(
        Entry(
            "operator",
            t("tray.operator"),
            children=(
                Entry(
                    "operator.update_now",
                    t("tray.update_now"),
                    _bind(actions.operator, "update-now"),
                ),
                Entry("operator.pause", t("tray.pause"), _bind(actions.operator, "pause")),
                Entry(
                    "operator.postpone_update",
                    t("tray.postpone_update"),
                    _bind(actions.operator, "postpone-update"),
                ),
                Entry("operator.today", t("tray.today"), _bind(actions.operator, "today")),
            ),
        )
    )
    return entries


def _bind(fn: Callable[[str], None], arg: str) -> Callable[[], None]:
    return lambda: fn(arg)


def icon_image(state: str, size: int = 64) -> Image.Image:
    """A shield in the state's colour; drawn, so no icon files need shipping."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    s = size / 64
    color = STATE_COLORS.get(state, STATE_COLORS["problem"])
    shield = [(32, 4), (56, 13), (53, 38), (32, 60), (11, 38), (8, 13)]
    d.polygon([(x * s, y * s) for x, y in shield], fill=color)
    if state == "protected":
        d.line(
            [(20 * s, 32 * s), (29 * s, 41 * s), (45 * s, 22 * s)], fill="white", width=int(6 * s)
        )
    elif state == "updating":
        d.arc((18 * s, 18 * s, 46 * s, 46 * s), 30, 330, fill="white", width=int(5 * s))
    else:
        d.rectangle((29 * s, 16 * s, 35 * s, 36 * s), fill="white")
        d.rectangle((29 * s, 42 * s, 35 * s, 48 * s), fill="white")
    return img


# -- pystray -----------------------------------------------------------------------------


def to_pystray(entries: Sequence[Entry]) -> Any:
    """The entries as a ``pystray.Menu``."""
    import pystray

    def item(e: Entry) -> Any:
        if e.children:
            return pystray.MenuItem(e.label, pystray.Menu(*(item(c) for c in e.children)))
        action = e.action
        kwargs: dict[str, Any] = {"enabled": action is not None}
        if e.checked is not None:
            kwargs["checked"] = lambda _item, c=e.checked: c
            kwargs["radio"] = True
        return pystray.MenuItem(e.label, _pystray_action(action), **kwargs)

    return pystray.Menu(*(item(e) for e in entries))


def _pystray_action(action: Callable[[], None] | None) -> Callable[[Any, Any], None]:
    def run(_icon: Any, _item: Any) -> None:
        if action is not None:
            action()

    return run


@dataclass
class Tray:
    """The pystray icon, run in its own thread; state and menu updated from any thread."""

    title: str
    on_click: Callable[[], None]  # default action; opens the Tk menu where pystray has none
    entries: list[Entry] = field(default_factory=list)
    state: str = "problem"
    icon: Any = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        import pystray

        self.icon = pystray.Icon(
            "kiosk-agent",
            icon_image(self.state),
            self.title,
            menu=self._menu(),
        )
        self._thread = threading.Thread(target=self._run, name="tray", daemon=True)
        self._thread.start()

    @property
    def has_menu(self) -> bool:
        return bool(self.icon is not None and getattr(self.icon, "HAS_MENU", False))

    @property
    def has_notification(self) -> bool:
        return bool(self.icon is not None and getattr(self.icon, "HAS_NOTIFICATION", False))

    def _menu(self) -> Any:
        import pystray

        click = pystray.MenuItem(
            "open", lambda _i, _m: self.on_click(), default=True, visible=False
        )
        if not self.entries:
            return pystray.Menu(click)
        menu = to_pystray(self.entries)
        return pystray.Menu(click, *menu.items)

    def _run(self) -> None:
        try:
            assert self.icon is not None
            self.icon.run()
        except Exception:  # no tray on this desktop: the notice and toasts still work
            log.exception("the tray icon could not run")

    def update(self, state: str, entries: list[Entry], title: str) -> None:
        self.entries = entries
        if self.icon is None:
            self.state = state
            return
        changes: list[tuple[str, Any]] = [("title", title), ("menu", self._menu())]
        if state != self.state:
            self.state = state
            changes.insert(0, ("icon", icon_image(state)))
        for name, value in changes:
            try:  # the setters redraw at once; a backend that cannot must not stop the UI
                setattr(self.icon, name, value)
            except Exception:
                log.debug("tray: setting %s failed", name, exc_info=True)

    def notify(self, message: str, title: str) -> bool:
        """A system notification if the backend has them; False: show a Tk toast instead."""
        if not self.has_notification:
            return False
        try:
            self.icon.notify(message, title)
            return True
        except Exception:
            log.debug("tray notification failed", exc_info=True)
            return False

    def stop(self) -> None:
        if self.icon is not None:
            try:
                self.icon.stop()
            except Exception:
                log.debug("stopping the tray failed", exc_info=True)
