"""The install wizard as a small window, for an operator on a desktop.

The same questions as the terminal wizard on one page, in the chosen language; the
install steps then scroll by in the same window. Deliberately plain Tk widgets: the
operator strings are short and mostly Latin-script; the customer-facing notice is the
part that renders every script through Pillow.
"""

from __future__ import annotations

import queue
import threading
import tkinter as tk
from collections.abc import Callable
from typing import Any

from kiosk_agent.errors import UserError
from kiosk_agent.installer.answers import (
    Answers,
    check_code,
    check_country,
    check_languages,
    check_region,
    check_server,
    parse_feed_line,
    split_languages,
)
from kiosk_agent.installer.strings import available_languages, load_strings
from kiosk_agent.installer.wizard import Current
from kiosk_agent.service.pin import validate_pin

FIELDS = ("cafe_name", "country", "region", "languages", "pin", "pin_again", "server")
FIELDS_OPTIONAL = ("enrollment_code", "feed")


class WizardWindow:
    """The form. ``answers()`` validates it; ``run_install`` runs the steps in a thread."""

    def __init__(self, root: tk.Tk, current: Current, language: str) -> None:
        self.root = root
        self.current = current
        self.languages = available_languages()
        self.language = tk.StringVar(root, value=language if language in self.languages else "en")
        self.vars: dict[str, tk.StringVar] = {}
        self.labels: dict[str, tk.Label] = {}
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.result: int | None = None
        root.title("kiosk-agent")
        frame = tk.Frame(root, padx=16, pady=12)
        frame.pack(fill="both", expand=True)
        self.title = tk.Label(frame, font=("TkDefaultFont", 14, "bold"), anchor="w")
        self.title.grid(row=0, column=0, columnspan=2, sticky="we")
        self.welcome = tk.Label(frame, wraplength=520, justify="left", anchor="w")
        self.welcome.grid(row=1, column=0, columnspan=2, sticky="we", pady=(0, 8))
        names = [f"{code} — {name}" for code, name in self.languages.items()]
        chooser = tk.OptionMenu(frame, tk.StringVar(root, value=names[0]), *names)
        chooser["menu"].delete(0, "end")
        for code, name in self.languages.items():
            chooser["menu"].add_command(
                label=f"{code} — {name}", command=lambda c=code: self.set_language(c)
            )
        self.chooser = chooser
        chooser.grid(row=2, column=1, sticky="w")
        tk.Label(frame, text="Language").grid(row=2, column=0, sticky="w")
        defaults = {
            "cafe_name": current.cafe_name or "",
            "country": current.country or "",
            "region": current.region or "",
            "languages": ", ".join(current.languages),
            "server": current.server or "",
        }
        for i, key in enumerate((*FIELDS, *FIELDS_OPTIONAL), start=3):
            self.labels[key] = tk.Label(frame, anchor="w", justify="left", wraplength=300)
            self.labels[key].grid(row=i, column=0, sticky="w", pady=2)
            self.vars[key] = tk.StringVar(root, value=defaults.get(key, ""))
            entry = tk.Entry(
                frame, textvariable=self.vars[key], width=36, show="•" if "pin" in key else ""
            )
            entry.grid(row=i, column=1, sticky="we", pady=2)
        row = 3 + len(FIELDS) + len(FIELDS_OPTIONAL)
        self.problem = tk.Label(frame, fg="#b00020", wraplength=520, justify="left")
        self.problem.grid(row=row, column=0, columnspan=2, sticky="we")
        self.button = tk.Button(frame, command=self.submit)
        self.button.grid(row=row + 1, column=1, sticky="e", pady=8)
        self.log = tk.Text(frame, height=12, width=72, state="disabled")
        self.log.grid(row=row + 2, column=0, columnspan=2, sticky="nsew")
        self.on_submit: Callable[[Answers], None] | None = None
        self.set_language(self.language.get())

    def set_language(self, code: str) -> None:
        self.language.set(code)
        s = load_strings(code)
        self.strings = s
        self.root.title(s.text("title"))
        self.title.configure(text=s.text("title"))
        self.welcome.configure(text=s.text("welcome"))
        for key, label in self.labels.items():
            text = s.text(key)
            if key == "pin" and self.current.pin_scrypt:
                text += " " + s.text("keep_pin")
            label.configure(text=text)
        self.button.configure(text=s.text("finish"))
        self.chooser.configure(text=f"{code} — {self.languages.get(code, code)}")

    def answers(self) -> Answers | None:
        """The form's answers, or None after showing what needs fixing."""
        v = {k: var.get().strip() for k, var in self.vars.items()}
        s = self.strings
        checks: list[tuple[str, str | None]] = [
            ("cafe_name", None if v["cafe_name"] else "this answer is needed"),
            ("country", check_country(v["country"].upper())),
            ("region", check_region(v["region"].upper())),
            ("languages", check_languages(split_languages(v["languages"]))),
            ("server", check_server(v["server"]) if v["server"] else None),
            ("enrollment_code", check_code(v["enrollment_code"]) if v["enrollment_code"] else None),
            ("feed", parse_feed_line(v["feed"])[1] if v["feed"] else None),
        ]
        keep_pin = not v["pin"] and self.current.pin_scrypt is not None
        if not keep_pin:
            checks.append(("pin", validate_pin(v["pin"])))
            if v["pin"] != v["pin_again"]:
                self.problem.configure(text=s.text("pin_mismatch"))
                return None
        for key, problem in checks:
            if problem is not None:
                self.problem.configure(text=f"{s.text(key)} — {problem}")
                return None
        self.problem.configure(text="")
        return Answers(
            cafe_name=v["cafe_name"],
            country=v["country"].upper(),
            region=v["region"].upper(),
            languages=tuple(split_languages(v["languages"])),
            language=self.language.get(),
            pin=None if keep_pin else v["pin"],
            pin_scrypt=self.current.pin_scrypt if keep_pin else None,
            server=v["server"].rstrip("/") or None,
            enrollment_code=(v["enrollment_code"] or None) if v["server"] else None,
            # Empty keeps the configured feeds (config_writer merges into the current config).
            feeds=(feed,) if (feed := parse_feed_line(v["feed"])[0]) and v["feed"] else (),
        )

    def submit(self) -> None:
        answers = self.answers()
        if answers is not None and self.on_submit is not None:
            self.button.configure(state="disabled")
            self.on_submit(answers)

    def append(self, line: str) -> None:
        self.log.configure(state="normal")
        self.log.insert("end", line + "\n")
        self.log.see("end")
        self.log.configure(state="disabled")

    def pump(self) -> None:
        """Show what the install thread said (Tk may be used from its own thread only)."""
        try:
            while True:
                kind, text = self.events.get_nowait()
                if kind == "line":
                    self.append(text)
                else:
                    self.result = 0 if kind == "done" else 1
                    self.append(text)
                    self.button.configure(
                        state="normal", text=self.strings.text("finish"), command=self.root.destroy
                    )
        except queue.Empty:
            pass
        self.root.after(100, self.pump)


def run_gui(installer: Any, current: Current, *, language: str | None = None) -> int:
    """Show the wizard window, install when the form is complete; the exit code."""
    root = tk.Tk()
    window = WizardWindow(root, current, language or (current.languages or ("en",))[0])

    def install(answers: Answers) -> None:
        s = load_strings(answers.language)
        window.append(s.text("installing"))
        installer.say = lambda line: window.events.put(("line", line))

        def work() -> None:
            try:
                installer.install(answers)
            except UserError as e:
                window.events.put(("failed", s.text("failed", error=str(e))))
            else:
                window.events.put(("done", s.text("done")))

        threading.Thread(target=work, name="install", daemon=True).start()

    window.on_submit = install
    window.pump()
    root.mainloop()
    return 1 if window.result is None else window.result
