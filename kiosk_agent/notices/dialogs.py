"""The operator's small Tk dialogs (PIN prompt, popup menu) with Pillow-drawn labels."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence

from PIL import ImageTk

from kiosk_agent.content.locales import Locale, load_locale
from kiosk_agent.notices.layout import BACKGROUND
from kiosk_agent.notices.render import TextStyle, render_text
from kiosk_agent.notices.tray import Entry

MENU_FONT = 16


def _hex(c: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def ask_pin(master: tk.Tk, locale: Locale, on_pin: Callable[[str], None]) -> tk.Toplevel:
    """A small top-most window asking for the operator PIN; ``on_pin`` gets what was typed."""
    top = tk.Toplevel(master, background=_hex(BACKGROUND))
    top.title("PIN")
    top.attributes("-topmost", True)
    top.resizable(False, False)
    prompt = render_text(
        locale.text("tray.enter_pin"),
        locale.script,
        TextStyle(18),
        max_width=360,
        rtl=locale.is_rtl,
        background=BACKGROUND,
    )
    photo = ImageTk.PhotoImage(prompt, master=top)
    label = tk.Label(top, image=photo, background=_hex(BACKGROUND))
    label.image = photo  # type: ignore[attr-defined]  # keep the image alive
    label.pack(padx=16, pady=(16, 8))
    entry = tk.Entry(top, show="•", width=12, font=("TkDefaultFont", 18), justify="center")
    entry.pack(padx=16, pady=(0, 16))
    entry.focus_force()

    def done(_event: object = None) -> None:
        pin = entry.get()
        top.destroy()
        if pin:
            on_pin(pin)

    entry.bind("<Return>", done)
    entry.bind("<KP_Enter>", done)
    top.bind("<Escape>", lambda e: top.destroy())
    return top


class PopupMenu:
    """The tray menu as a Tk popup, for tray backends without menus (plain X11)."""

    def __init__(self, master: tk.Tk) -> None:
        self.master = master
        self._photos: list[ImageTk.PhotoImage] = []

    def _image(self, text: str, locale: Locale) -> ImageTk.PhotoImage:
        img = render_text(
            text,
            locale.script,
            TextStyle(MENU_FONT),
            max_width=420,
            rtl=locale.is_rtl,
            background=(240, 240, 240),
            padding=(6, 3),
        )
        photo = ImageTk.PhotoImage(img, master=self.master)
        self._photos.append(photo)
        return photo

    def build(
        self, entries: Sequence[Entry], locale: Locale, parent: tk.Misc | None = None
    ) -> tk.Menu:
        menu = tk.Menu(parent or self.master, tearoff=False)
        for e in entries:
            label_locale = locale
            if e.key.startswith("language."):
                label_locale = load_locale(e.key.split(".", 1)[1])
            image = self._image(("● " if e.checked else "") + e.label, label_locale)
            if e.children:
                menu.add_cascade(image=image, menu=self.build(e.children, locale, menu))
            elif e.action is None:
                menu.add_command(image=image, command=lambda: None)  # DISABLED would stipple it
            else:
                menu.add_command(image=image, command=e.action)
        return menu

    def popup(self, entries: Sequence[Entry], locale: Locale) -> tk.Menu:
        self._photos.clear()
        menu = self.build(entries, locale)
        x, y = self.master.winfo_pointerx(), self.master.winfo_pointery()
        menu.tk_popup(x, y)
        return menu
