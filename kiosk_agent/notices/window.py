"""The safety notice: a full-screen, top-most Tk window showing Pillow-drawn text.

Tk only arranges images here (see ``render.py`` for why Tk must not draw the text). The
window offers the café's languages as buttons with their native names, shows one tip of
the locale's pool (``rotation.py`` picks it), keeps the acknowledge button disabled for a
reading time (``reading.py``: from the tip's length, around ``min_display``) while a
countdown runs, and is fully keyboard operable: Tab / Shift-Tab move between buttons,
Return or Space presses the focused one, Left / Right switch language. It needs nothing
from the network.

Events: ``NoticeShown(locale)`` when it appears, ``NoticeFeedback(locale, tip, verdict)``
when the customer presses "This helped" / "Not for me" (optional, once per notice; a
second press of the other button is ignored), ``NoticeAcknowledged(locale)`` when the
customer acknowledges it (in the language shown at that moment).
"""

from __future__ import annotations

import functools
import logging
import time
import tkinter as tk
from collections.abc import Callable, Sequence

from PIL import Image, ImageTk

from kiosk_agent.content.countries import Country
from kiosk_agent.content.locales import REFERENCE, Locale, load_locale
from kiosk_agent.notices.layout import (
    BACKGROUND,
    Frame,
    NoticeContent,
    ack_face,
    feedback_face,
    fit_body,
    font_px,
    lang_face,
    notice_content,
    wait_face,
)
from kiosk_agent.notices.reading import default_cpm
from kiosk_agent.notices.reading import min_display as reading_time
from kiosk_agent.notices.rotation import TipRotation
from kiosk_agent.notices.shaping import notice_languages
from kiosk_agent.reporting.events import (
    Event,
    NoticeAcknowledged,
    NoticeDegraded,
    NoticeFeedback,
    NoticeShown,
)

log = logging.getLogger(__name__)

FOCUS = "#f2994a"
TICK_MS = 200


def _hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


class NoticeWindow:
    """Shows the notice in a ``Toplevel`` of ``master``; reusable for every session."""

    def __init__(
        self,
        master: tk.Tk,
        *,
        languages: Sequence[str],
        country: Country | None,
        min_display: float,
        font_size: int,
        on_event: Callable[[Event], None] = lambda event: None,
        on_close: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        size: tuple[int, int] | None = None,
        rotation: TipRotation | None = None,
    ) -> None:
        self.master = master
        # Without text shaping only the languages drawable without it (shaping.py).
        drawable, shaping = notice_languages([c for c in dict.fromkeys(languages)] or [REFERENCE])
        self.languages = drawable
        self.degraded = not shaping.available
        self.country = country
        self.min_display = min_display
        self.font_size = font_size
        self.on_event = on_event
        self.on_close = on_close
        self.clock = clock
        self.size = size
        self.rotation = rotation or TipRotation(None)
        self.top: tk.Toplevel | None = None
        self.locale: Locale = load_locale(self.languages[0])
        self.tip_id: str | None = None
        self.feedback: bool | None = None  # True helped, False not for me, None no answer
        self.display_for = min_display
        self.shown_at = 0.0
        self.ack_enabled = False
        self._images: dict[str, ImageTk.PhotoImage] = {}
        self._last_seconds: int | None = None
        self._tick_id: str | None = None
        self.lang_buttons: dict[str, ImageButton] = {}
        self.body: ImageButton | None = None
        self.wait_label: ImageButton | None = None
        self.ack_button: ImageButton | None = None
        self.feedback_buttons: dict[bool, ImageButton] = {}
        self.lang_bar: tk.Frame | None = None
        width, height = self.screen_size()
        self.frame = Frame(width, height, font_px(font_size, width, height))
        self._ack_images: dict[bool, ImageTk.PhotoImage] = {}

    # -- public ----------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.top is not None

    def show(self, locale: str | None = None) -> None:
        """Open the notice (or bring it back to the front with a fresh countdown)."""
        if locale is not None:
            self.locale = load_locale(locale if locale in self.languages else self.languages[0])
            if locale not in self.languages:
                log.info("locale %s is not among the café's languages", locale)
        if self.top is None:
            self._build()
        assert self.top is not None
        if self.locale.tips:
            self.tip_id = self.rotation.choose([t.id for t in self.locale.tips])
        self.feedback = None
        self.display_for = self._reading_time()
        self.shown_at = self.clock()
        self.ack_enabled = False
        self._last_seconds = None
        self._refresh()
        self.top.deiconify()
        self.top.lift()
        self.top.focus_force()
        self.on_event(NoticeShown(self.locale.code))
        if self.degraded:
            self.on_event(NoticeDegraded("no_shaping"))
        self._tick()

    def set_locale(self, code: str) -> None:
        """Switch the notice to ``code`` (the countdown keeps running)."""
        if code == self.locale.code or self.top is None:
            return
        self.locale = load_locale(code)
        self._refresh()
        button = self.lang_buttons.get(code)
        if button is not None:
            button.focus_set()

    def give_feedback(self, helpful: bool) -> None:
        """ "This helped" (``helpful``) or "Not for me": counted once per notice."""
        if self.top is None or self.feedback is not None or self.tip_id is None:
            return
        self.feedback = helpful
        verdict = "helpful" if helpful else "not_helpful"
        self.on_event(NoticeFeedback(self.locale.code, self.tip_id, verdict))
        self._feedback_faces()

    def _reading_time(self) -> float:
        """The countdown for the tip shown, in the first language shown (a switch of
        language keeps the countdown running, as before)."""
        tip = self.locale.tip(self.tip_id) if self.tip_id else None
        if tip is None:
            return self.min_display
        cpm = self.locale.reading_cpm or default_cpm(self.locale.script)
        return reading_time(tip.text, cpm, self.min_display)

    def acknowledge(self) -> None:
        """The customer pressed the acknowledge button (ignored until it is enabled)."""
        if not self.ack_enabled or self.top is None:
            return
        self.on_event(NoticeAcknowledged(self.locale.code))
        self.close()

    def close(self) -> None:
        if self._tick_id is not None and self.top is not None:
            self.top.after_cancel(self._tick_id)
            self._tick_id = None
        if self.top is not None:
            self.top.destroy()
            self.top = None
        # Photos die here, on the Tk thread: one left to the garbage collector may be
        # freed on another thread, where Tcl aborts the process.
        self._images.clear()
        self._ack_images.clear()
        self.on_close()

    def screen_size(self) -> tuple[int, int]:
        if self.size is not None:
            return self.size
        return self.master.winfo_screenwidth(), self.master.winfo_screenheight()

    # -- building ----------------------------------------------------------------------

    def _build(self) -> None:
        width, height = self.screen_size()
        top = tk.Toplevel(self.master, background=_hex(BACKGROUND))
        top.title("Safety notice")
        top.geometry(f"{width}x{height}+0+0")
        if self.size is None:
            top.attributes("-fullscreen", True)
        top.attributes("-topmost", True)
        # Only the acknowledge button closes it: no close box, no Escape.
        top.protocol("WM_DELETE_WINDOW", lambda: None)
        top.bind("<Return>", self._press_focused)
        top.bind("<KP_Enter>", self._press_focused)
        top.bind("<Left>", lambda e: self._step_language(-1))
        top.bind("<Right>", lambda e: self._step_language(+1))
        self.top = top
        self.frame = Frame(width, height, font_px(self.font_size, width, height))

        self.lang_bar = tk.Frame(top, background=_hex(BACKGROUND), height=self.frame.top_bar)
        self.lang_bar.pack(side=tk.TOP, fill=tk.X, pady=(8, 0))
        bottom = tk.Frame(top, background=_hex(BACKGROUND), height=self.frame.bottom_bar)
        bottom.pack(side=tk.BOTTOM, fill=tk.X, pady=(0, 16))
        # Feedback under the message, above the acknowledge button: optional, never
        # needed to continue.
        feedback_row = tk.Frame(top, background=_hex(BACKGROUND), height=self.frame.feedback_bar)
        feedback_row.pack(side=tk.BOTTOM, pady=(0, 8))
        self.feedback_buttons = {
            helpful: self._button(feedback_row, functools.partial(self.give_feedback, helpful))
            for helpful in (True, False)
        }
        self.body = ImageButton(top, background=_hex(BACKGROUND))
        self.body.pack(side=tk.TOP, expand=True)
        self.wait_label = ImageButton(bottom, background=_hex(BACKGROUND))
        self.wait_label.pack(side=tk.TOP, pady=(0, 6))
        self.ack_button = self._button(bottom, self.acknowledge)
        self.ack_button.pack(side=tk.TOP)

    def _button(self, parent: tk.Misc, command: Callable[[], None]) -> ImageButton:
        return ImageButton(parent, command, background=_hex(BACKGROUND), ring=4, ring_color=FOCUS)

    def _photo(self, key: str, image: Image.Image) -> ImageTk.PhotoImage:
        photo = ImageTk.PhotoImage(image, master=self.top)
        self._images[key] = photo  # Tk shows nothing once Python drops the reference
        return photo

    def _refresh(self) -> None:
        """Redraw everything that depends on the language."""
        assert self.top is not None and self.body is not None and self.ack_button is not None
        frame = self.frame
        content = self._content()
        body, _size = fit_body(content, frame)
        self.body.show(self._photo("body", body.image))
        self._build_language_bar()
        self._feedback_faces()
        self._ack_images = {
            enabled: self._photo(f"ack{enabled}", ack_face(content, frame, enabled))
            for enabled in (False, True)
        }
        self._last_seconds = None
        self._update_ack()

    def _content(self) -> NoticeContent:
        return notice_content(self.locale, self.country, self.tip_id)

    def _feedback_faces(self) -> None:
        content = self._content()
        rtl = self.locale.is_rtl
        for helpful, button in self.feedback_buttons.items():
            chosen = self.feedback is helpful
            face = feedback_face(content, self.frame, helpful, chosen)
            button.show(self._photo(f"feedback{helpful}", face))
            button.pack_forget()
        # "This helped" first in reading order.
        for helpful in (True, False):
            self.feedback_buttons[helpful].pack(
                side=tk.RIGHT if rtl else tk.LEFT, padx=self.frame.font_px
            )

    def _build_language_bar(self) -> None:
        assert self.lang_bar is not None
        for child in self.lang_bar.winfo_children():
            child.destroy()
        self.lang_buttons = {}
        if len(self.languages) < 2:
            return
        rtl = self.locale.is_rtl
        row = tk.Frame(self.lang_bar, background=_hex(BACKGROUND))
        row.pack()
        for code in self.languages:
            face = self._lang_face(code, selected=code == self.locale.code)
            button = self._button(row, functools.partial(self.set_locale, code))
            button.show(self._photo(f"lang-{code}", face))
            button.pack(side=tk.RIGHT if rtl else tk.LEFT, padx=4)
            self.lang_buttons[code] = button

    # -- faces (pure Pillow, layout.py) ----------------------------------------------------

    def _lang_face(self, code: str, selected: bool) -> Image.Image:
        return lang_face(load_locale(code), self.frame, selected)

    # -- countdown ----------------------------------------------------------------------

    def remaining(self) -> float:
        return max(0.0, self.display_for - (self.clock() - self.shown_at))

    def _tick(self) -> None:
        self._tick_id = None
        if self.top is None:
            return
        self._update_ack()
        if not self.ack_enabled:
            self._tick_id = self.top.after(TICK_MS, self._tick)

    def _update_ack(self) -> None:
        assert self.ack_button is not None and self.wait_label is not None
        left = self.remaining()
        enabled = left <= 0
        if enabled and not self.ack_enabled:
            self.ack_enabled = True
            self.ack_button.show(self._ack_images[True])
            self.ack_button.configure(takefocus=True, cursor="hand2")
            self.wait_label.show(None)
            self.ack_button.focus_set()
        elif not enabled:
            self.ack_enabled = False
            # Not Tk's DISABLED state: on X11 it stipples the image into a grey mesh. The
            # grey face, no focus stop and acknowledge() ignoring presses do the same job.
            self.ack_button.show(self._ack_images[False])
            self.ack_button.configure(takefocus=False, cursor="watch")
            seconds = int(left + 0.999)
            if seconds != self._last_seconds:
                self._last_seconds = seconds
                text = self.locale.text("notice.wait", seconds=seconds)
                image = wait_face(self._content(), text, self.frame)
                self.wait_label.show(self._photo("wait", image))
        elif self._ack_images:
            self.ack_button.show(self._ack_images[True])

    # -- keyboard -----------------------------------------------------------------------

    def _press_focused(self, event: tk.Event[tk.Misc]) -> str:
        widget = event.widget
        if isinstance(widget, ImageButton):
            widget.invoke()
        return "break"

    def _step_language(self, step: int) -> None:
        if len(self.languages) < 2:
            return
        if self.locale.is_rtl:
            step = -step  # the bar runs right to left
        i = self.languages.index(self.locale.code) if self.locale.code in self.languages else 0
        self.set_locale(self.languages[(i + step) % len(self.languages)])

    # -- testing and previews ---------------------------------------------------------

    def capture(self) -> Image.Image:
        """A screenshot of the window as it is on screen (X11 or Windows)."""
        from PIL import ImageGrab

        assert self.top is not None
        self.top.update()
        x, y = self.top.winfo_rootx(), self.top.winfo_rooty()
        w, h = self.top.winfo_width(), self.top.winfo_height()
        return ImageGrab.grab(bbox=(x, y, x + w, y + h))


class ImageButton(tk.Canvas):
    """A picture drawn by Pillow, shown on a Tk canvas, pressed with the mouse, Return or
    Space when it has a ``command``.

    Not a ``tk.Button`` or ``tk.Label``: those resolve their ``-font`` even when they show
    only an image, which starts Xft and fontconfig in the UI process, 2.2 MB resident for
    as long as it runs (measured; docs/BENCHMARKS.md). A canvas has no font.
    """

    def __init__(
        self,
        parent: tk.Misc,
        command: Callable[[], None] | None = None,
        *,
        background: str,
        ring: int = 0,
        ring_color: str = "",
    ) -> None:
        super().__init__(
            parent,
            width=1,
            height=1,
            background=background,
            borderwidth=0,
            highlightthickness=ring,
            highlightbackground=background,
            highlightcolor=ring_color or background,
            takefocus=command is not None,
            cursor="hand2" if command is not None else "",
        )
        self._command = command
        # Canvas coordinates start at the outer edge, under the focus ring.
        self._item = self.create_image(ring, ring, anchor=tk.NW)
        if command is not None:
            self.bind("<ButtonRelease-1>", self._released)
            self.bind("<space>", self._key)

    def show(self, photo: ImageTk.PhotoImage | None) -> None:
        """Show ``photo`` (None: nothing, one pixel high)."""
        if photo is None:
            self.itemconfigure(self._item, image="")
            self.configure(width=1, height=1)
            return
        self.itemconfigure(self._item, image=photo)
        self.configure(width=photo.width(), height=photo.height())

    def invoke(self) -> None:
        if self._command is not None:
            self._command()

    def _released(self, event: tk.Event[tk.Misc]) -> None:
        # Like a button: only when the pointer is still over it.
        if 0 <= event.x < self.winfo_width() and 0 <= event.y < self.winfo_height():
            self.invoke()

    def _key(self, event: tk.Event[tk.Misc]) -> str:
        self.invoke()
        return "break"
