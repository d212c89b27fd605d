"""The wizard window on a virtual screen (Xvfb)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from kiosk_agent.installer.answers import Answers
from kiosk_agent.installer.wizard import Current
from kiosk_agent.service.pin import hash_pin
from tests.conftest import require_tool


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """One virtual screen for the session: Tk keeps its X connection open after destroy(),
    and Xlib ends the process if that server goes away under it."""
    xvfb = require_tool("Xvfb")
    proc = subprocess.Popen(
        [xvfb, "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    number = proc.stdout.readline().strip()
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        if old is None:
            del os.environ["DISPLAY"]
        else:
            os.environ["DISPLAY"] = old
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_form_validates_and_returns_answers(display: str) -> None:
    import tkinter as tk

    from kiosk_agent.installer.wizard_tk import WizardWindow

    root = tk.Tk()
    try:
        w = WizardWindow(root, Current(), "en")
        got: list[Answers] = []
        w.on_submit = got.append
        w.vars["cafe_name"].set("Sunrise")
        w.vars["country"].set("ke")
        w.vars["region"].set("KE-NBO")
        w.vars["languages"].set("sw en")
        w.vars["pin"].set("4821")
        w.vars["pin_again"].set("4822")
        w.submit()
        assert got == [] and "not the same" in w.problem.cget("text")
        w.vars["pin_again"].set("4821")
        w.vars["country"].set("Kenya")
        w.submit()
        assert got == [] and "two capital letters" in w.problem.cget("text")
        w.vars["country"].set("ke")
        w.submit()
        assert len(got) == 1
        a = got[0]
        assert (a.country, a.languages, a.pin, a.server) == ("KE", ("sw", "en"), "4821", None)
        assert w.button.cget("state") == "disabled"
    finally:
        root.destroy()


def test_repair_keeps_the_pin_and_relabels_on_language_change(display: str) -> None:
    import tkinter as tk

    from kiosk_agent.installer.wizard_tk import WizardWindow

    stored = hash_pin("4821")
    root = tk.Tk()
    try:
        w = WizardWindow(root, Current("Sunrise", "KE", "KE-NBO", ("sw",), stored), "en")
        got: list[Answers] = []
        w.on_submit = got.append
        assert w.vars["cafe_name"].get() == "Sunrise"
        assert "Enter keeps" in w.labels["pin"].cget("text")
        w.submit()
        assert got[0].pin is None and got[0].pin_scrypt == stored
        w.append("[1/9] Copy the program")
        assert "[1/9]" in w.log.get("1.0", "end")
    finally:
        root.destroy()


class _FakeInstaller:
    """Stands in for ``Installer``: records the answers, says two lines, maybe fails."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.got: list[Answers] = []
        self.say: object = print

    def install(self, answers: Answers) -> None:
        from kiosk_agent.errors import UserError

        self.got.append(answers)
        say = self.say
        assert callable(say)
        say("[1/9] Copy the program to /opt/kiosk-agent")
        if self.fail:
            raise UserError("install stopped: systemctl failed")
        say("[9/9] Status")


@pytest.mark.parametrize("fail", [False, True])
def test_run_gui_installs_in_a_thread_and_reports(
    display: str, monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    from kiosk_agent.installer import wizard_tk

    windows: list[wizard_tk.WizardWindow] = []
    logs: list[str] = []
    polls: list[int] = []
    original = wizard_tk.WizardWindow.__init__

    def capture(self: wizard_tk.WizardWindow, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        windows.append(self)
        self.root.after(50, fill)

    def fill() -> None:
        w = windows[0]
        for key, value in (
            ("cafe_name", "Sunrise"),
            ("country", "KE"),
            ("region", "KE-NBO"),
            ("languages", "sw"),
            ("pin", "4821"),
            ("pin_again", "4821"),
        ):
            w.vars[key].set(value)
        w.submit()
        w.root.after(100, finish)

    def finish() -> None:
        w = windows[0]
        if w.result is None and len(polls) < 100:  # the install thread has not reported yet
            polls.append(1)
            w.root.after(100, finish)
            return
        logs.append(w.log.get("1.0", "end"))  # asserted after the loop: Tk swallows errors
        if w.result is None:
            w.root.destroy()  # never reported: fail below instead of hanging
        else:
            w.button.invoke()  # "Finish" closes the window

    monkeypatch.setattr(wizard_tk.WizardWindow, "__init__", capture)
    fake = _FakeInstaller(fail)
    code = wizard_tk.run_gui(fake, Current(), language="en")
    assert code == (1 if fail else 0)
    assert len(logs) == 1 and "[1/9]" in logs[0]
    assert ("systemctl failed" in logs[0]) == fail
    assert fake.got and fake.got[0].cafe_name == "Sunrise" and fake.got[0].pin == "4821"
