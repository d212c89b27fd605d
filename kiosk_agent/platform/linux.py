"""Linux: the ``Platform`` assembled from the per-concept Linux classes.

Each concept (DNS settings, session signals, service registration, browser policies)
lives in its own ``linux_*.py`` module and is added to ``LinuxPlatform``'s bases here.
"""

from __future__ import annotations

from kiosk_agent.platform.linux_browsers import LinuxBrowserPolicies
from kiosk_agent.platform.linux_dns import LinuxDns
from kiosk_agent.platform.linux_firewall import LinuxDnsGuard
from kiosk_agent.platform.linux_services import LinuxServices
from kiosk_agent.platform.linux_sessions import LinuxSessionSignals


class LinuxPlatform(
    LinuxBrowserPolicies, LinuxDns, LinuxDnsGuard, LinuxSessionSignals, LinuxServices
):
    name = "linux"
