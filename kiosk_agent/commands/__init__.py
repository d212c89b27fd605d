"""Subcommands of `kiosk-agent`, one module each (see ``kiosk_agent.cli``)."""
