"""``python -m regional_server``: the ``kiosk-server`` command."""

from regional_server.cli import main

raise SystemExit(main())
