"""Windows: the ``Platform`` assembled from the per-concept Windows classes.

Each concept (DNS settings, session signals, service registration, browser policies)
lives in its own ``windows_*.py`` module and is added to ``WindowsPlatform``'s bases here.
"""

from __future__ import annotations

from kiosk_agent.platform.windows_browsers import WindowsBrowserPolicies
from kiosk_agent.platform.windows_dns import WindowsDns
from kiosk_agent.platform.windows_firewall import WindowsDnsGuard
from kiosk_agent.platform.windows_services import WindowsServices
from kiosk_agent.platform.windows_sessions import WindowsSessionSignals


class WindowsPlatform(
    WindowsBrowserPolicies, WindowsDns, WindowsDnsGuard, WindowsSessionSignals, WindowsServices
):
    name = "windows"
