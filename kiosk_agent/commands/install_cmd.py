"""`kiosk-agent install` and `kiosk-agent uninstall`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "install",
        help="install or repair the agent on this PC (as administrator)",
        description=(
            "Install the agent on this PC: copy the program to a protected folder, write "
            "the settings, register the service (at boot) and the notice/tray (at login), "
            "point the PC's DNS at the agent, enroll. Asks a few questions in your "
            "language, or reads them from --answers. Running it again repairs."
        ),
    )
    p.add_argument("--answers", type=Path, metavar="FILE.yaml", help="unattended: the answers")
    p.add_argument("--dry-run", action="store_true", help="print every step, change nothing")
    p.add_argument(
        "--root", type=Path, default=Path("/"), metavar="DIR", help="install into a prefix"
    )
    p.add_argument(
        "--program",
        type=Path,
        metavar="FILE",
        help="the one-file program to install (default: the one running)",
    )
    p.add_argument("--language", metavar="CODE", help="the wizard's language, e.g. sw")
    p.add_argument("--no-gui", action="store_true", help="ask in the terminal even on a desktop")
    p.set_defaults(handler=_install)

    u: argparse.ArgumentParser = sub.add_parser(
        "uninstall",
        help="remove the agent from this PC (asks the operator PIN)",
        description=(
            "Stop and remove the service and the notice/tray autostart, restore the DNS "
            "settings saved at install, remove the program. The settings and the state "
            "folder stay unless --purge. Asks the operator PIN (read from standard input "
            "when it is not a terminal)."
        ),
    )
    u.add_argument("--purge", action="store_true", help="also remove settings and state folder")
    u.add_argument(
        "--force", action="store_true", help="go on when no PIN can be checked (config lost)"
    )
    u.add_argument(
        "--root", type=Path, default=Path("/"), metavar="DIR", help="uninstall from a prefix"
    )
    u.set_defaults(handler=_uninstall)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or os.name == "nt"


def _tk_available() -> bool:
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return False
    return True


def _check_rights(root: Path, dry_run: bool) -> None:
    from kiosk_agent.errors import UserError
    from kiosk_agent.installer.steps import is_administrator

    if root == Path("/") and not dry_run and not is_administrator():
        raise UserError(
            "installing needs administrator rights: run `sudo kiosk-agent install` "
            "(Windows: right-click the program, 'Run as administrator')"
        )


def _current(layout: Any) -> Any:
    from kiosk_agent.installer.config_writer import read_existing
    from kiosk_agent.installer.wizard import Current

    path = layout.on_disk(layout.config_path)
    data = read_existing(path.read_text(encoding="utf-8") if path.is_file() else None) or {}
    cafe = data.get("cafe") or {}
    languages = cafe.get("languages") or []
    return Current(
        cafe_name=cafe.get("name"),
        country=cafe.get("country"),
        region=cafe.get("region"),
        languages=tuple(str(x) for x in languages) if isinstance(languages, list) else (),
        pin_scrypt=(data.get("operator") or {}).get("pin_scrypt"),
        server=(data.get("reporting") or {}).get("server"),
        feeds=len((data.get("filter") or {}).get("feeds") or []),
    )


def _install(args: argparse.Namespace) -> int:
    from kiosk_agent import platform
    from kiosk_agent.errors import UserError
    from kiosk_agent.installer.answers import load_answers
    from kiosk_agent.installer.steps import Installer
    from kiosk_agent.installer.strings import load_strings
    from kiosk_agent.net.dns_probe import wait_until_answering
    from kiosk_agent.platform.base import run_command

    root = args.root.resolve()
    _check_rights(root, args.dry_run)
    if args.program is not None and not args.program.is_file():
        raise UserError(f"--program {args.program}: no such file")
    plat = platform.current()
    layout = plat.install_layout(root)
    installer = Installer(
        layout=layout,
        services=plat,
        dns=plat if hasattr(plat, "read_dns") else None,
        runner=run_command,
        program=args.program,
        wait_for_resolver=lambda hp: wait_until_answering(hp, within=20.0),
        dry_run=args.dry_run,
    )
    if args.answers is not None:
        answers = load_answers(args.answers)
    elif _has_display() and not args.no_gui and _tk_available():
        import tkinter

        from kiosk_agent.installer.wizard_tk import run_gui

        try:
            return run_gui(installer, _current(layout), language=args.language)
        except tkinter.TclError:
            # A display that cannot be opened (sudo without X access): the terminal
            # wizard works everywhere.
            answers = _ask_in_terminal(args, layout)
    else:
        answers = _ask_in_terminal(args, layout)
    strings = load_strings(answers.language)
    print(strings.text("installing"))
    try:
        installer.install(answers)
    except UserError as e:
        print(strings.text("failed", error=str(e)))
        raise
    if args.dry_run:
        print("dry run finished: nothing was changed")
    elif not layout.register_with_os:
        print(f"installed into {layout.root}; nothing was started on this machine")
    else:
        print(strings.text("done"))
    return 0


def _ask_in_terminal(args: argparse.Namespace, layout: Any) -> Any:
    from kiosk_agent.errors import UserError
    from kiosk_agent.installer.wizard import run_wizard, terminal_io

    try:
        return run_wizard(terminal_io(), _current(layout), language=args.language)
    except EOFError:
        raise UserError(
            "the wizard needs answers: run it in a terminal, or pass --answers FILE.yaml"
        ) from None


def _uninstall(args: argparse.Namespace) -> int:
    from kiosk_agent import platform
    from kiosk_agent.installer.uninstall import Uninstaller
    from kiosk_agent.installer.wizard import terminal_io

    root = args.root.resolve()
    _check_rights(root, False)
    plat = platform.current()
    uninstaller = Uninstaller(
        layout=plat.install_layout(root),
        services=plat,
        dns=plat if hasattr(plat, "restore_dns") else None,
        ask_pin=terminal_io().ask_secret,
    )
    uninstaller.check_pin(force=args.force)
    uninstaller.uninstall(purge=args.purge)
    return 0
