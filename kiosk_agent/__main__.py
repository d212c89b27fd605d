"""`python -m kiosk_agent` is the same as the `kiosk-agent` command."""

from kiosk_agent.cli import main

raise SystemExit(main())
