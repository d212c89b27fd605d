"""Small top-most Tk windows with Pillow-drawn text: the "page blocked" toast, and short
messages (helpline, today's counts). They close themselves and never take the focus from
what the customer is doing."""

from __future__ import annotations

import tkinter as tk

from PIL import Image, ImageDraw, ImageTk

from kiosk_agent.content.locales import Locale
from kiosk_agent.notices.layout import TOAST_FONT, TOAST_PAD, TOAST_WIDTH
from kiosk_agent.notices.render import TextStyle, render_text

TOAST_BG = (33, 47, 61)
TOAST_TITLE = (255, 214, 153)
TOAST_TEXT = (255, 255, 255)
TOAST_SECONDS = 7.0


def toast_image(locale: Locale, title: str, body: str) -> Image.Image:
    """The toast's face: a bold title line over the body, in the locale's script."""
    width = TOAST_WIDTH - 2 * TOAST_PAD
    head = render_text(
        title,
        locale.script,
        TextStyle(TOAST_FONT, TOAST_TITLE, bold=True),
        max_width=width,
        rtl=locale.is_rtl,
        background=TOAST_BG,
        min_width=width,
    )
    text = render_text(
        body,
        locale.script,
        TextStyle(TOAST_FONT - 2, TOAST_TEXT),
        max_width=width,
        rtl=locale.is_rtl,
        background=TOAST_BG,
        min_width=width,
    )
    img = Image.new("RGB", (TOAST_WIDTH, head.height + text.height + 2 * TOAST_PAD + 6), TOAST_BG)
    img.paste(head, (TOAST_PAD, TOAST_PAD))
    img.paste(text, (TOAST_PAD, TOAST_PAD + head.height + 6))
    ImageDraw.Draw(img).rectangle((0, 0, 5, img.height), fill=TOAST_TITLE)
    return img


class ToastWindow:
    """One toast at a time in the bottom corner (bottom-left for right-to-left locales)."""

    def __init__(self, master: tk.Tk, seconds: float = TOAST_SECONDS) -> None:
        self.master = master
        self.seconds = seconds
        self.top: tk.Toplevel | None = None
        self._photo: ImageTk.PhotoImage | None = None
        self._after: str | None = None

    def show(self, locale: Locale, title: str, body: str) -> None:
        self.close()
        image = toast_image(locale, title, body)
        top = tk.Toplevel(self.master)
        top.overrideredirect(True)  # no title bar, no taskbar entry, no focus grab
        top.attributes("-topmost", True)
        self._photo = ImageTk.PhotoImage(image, master=top)
        label = tk.Label(top, image=self._photo, borderwidth=0, cursor="hand2")
        label.pack()
        label.bind("<Button-1>", lambda e: self.close())
        sw, sh = self.master.winfo_screenwidth(), self.master.winfo_screenheight()
        x = 24 if locale.is_rtl else sw - image.width - 24
        y = sh - image.height - 64  # above a bottom taskbar
        top.geometry(f"{image.width}x{image.height}+{x}+{y}")
        self.top = top
        self._after = top.after(int(self.seconds * 1000), self.close)

    def close(self) -> None:
        if self.top is not None:
            if self._after is not None:
                self.top.after_cancel(self._after)
            self.top.destroy()
        self.top = None
        self._after = None
        self._photo = None
