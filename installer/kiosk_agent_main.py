"""Entry point of the one-file program (PyInstaller needs a script, not a module)."""

from kiosk_agent.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
