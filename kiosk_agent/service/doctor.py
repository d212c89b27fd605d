"""`kiosk-agent doctor`: everything an installed kiosk needs, checked, in plain words.

``gather`` reads the facts (the service's status over its control API, a DNS probe, the
system's DNS settings, the clock file, the processes, Pillow's shaping, a connection to
the regional server, free disk space); ``evaluate`` turns facts into checks, each ``ok``,
``problem`` or ``skipped`` (not applicable here), with what to do. Pure, so every
failure is tested without breaking a PC (the command's test breaks a temporary install).
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiosk_agent.config import Config
from kiosk_agent.platform.browser_policies import BrowserGuardState

OK, PROBLEM, SKIPPED = "ok", "problem", "skipped"
FEED_STALE_SECONDS = 2 * 86400
CLOCK_OFF_SECONDS = 300.0
MIN_FREE_BYTES = 200 * 2**20
EARLIEST_SANE_TIME = 1735689600.0  # 2025-01-01: a clock before that has lost its battery


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    fix: str = ""


@dataclass
class Facts:
    """What ``gather`` read; None where it could not be read (the reason beside it)."""

    now: float
    service_status: dict[str, Any] | None = None
    service_error: str = ""
    dns_answering: bool = False
    listen: list[str] = field(default_factory=list)
    manage_system_dns: bool = False
    agent_servers: list[str] = field(default_factory=list)
    system_dns: list[str] | None = None
    system_dns_error: str = ""
    feeds_configured: int = 0
    clock_offset: float | None = None
    desktop_sessions: int | None = None
    ui_processes: int = 0
    shaping_available: bool = True
    shaping_reason: str = ""
    server: str | None = None
    server_error: str | None = None
    free_bytes: int | None = None
    state_dir: str = ""
    browsers: list[BrowserGuardState] | None = None  # None: could not be read
    browsers_error: str = ""


def _check_service(f: Facts) -> Check:
    if f.service_status is None:
        return Check(
            "service",
            PROBLEM,
            f"the kiosk-agent service is not running or not answering ({f.service_error})",
            "start it: Linux `sudo systemctl restart kiosk-agent`; Windows `schtasks /Run /TN "
            "\\kiosk-agent\\service`; if it keeps stopping, run `kiosk-agent logs`",
        )
    if not f.dns_answering:
        return Check(
            "service",
            PROBLEM,
            f"the service runs but its DNS filter does not answer on {', '.join(f.listen)}",
            "restart the service; `kiosk-agent logs` says why it stopped answering",
        )
    return Check("service", OK, f"running and answering on {', '.join(f.listen)}")


def _check_system_dns(f: Facts) -> Check:
    if not f.manage_system_dns:
        return Check(
            "system DNS", SKIPPED, "this kiosk does not manage the system DNS (a test setup)"
        )
    if f.system_dns is None:
        return Check(
            "system DNS",
            PROBLEM,
            f"cannot read the system's DNS settings ({f.system_dns_error})",
            "run doctor as administrator (root)",
        )
    servers = set(f.system_dns)
    if servers and servers <= set(f.agent_servers):
        return Check("system DNS", OK, f"the PC asks the filter ({', '.join(sorted(servers))})")
    others = ", ".join(sorted(servers - set(f.agent_servers))) or "nothing"
    return Check(
        "system DNS",
        PROBLEM,
        f"the PC asks {others} instead of the filter: websites are not filtered",
        "the service puts it back within a minute when it runs; otherwise run "
        "`kiosk-agent install` again (it repairs) or set the DNS server to 127.0.0.1",
    )


def _check_feed(f: Facts) -> Check:
    if not f.feeds_configured:
        return Check(
            "blocklist",
            PROBLEM,
            "no blocklist feed is configured: nothing is blocked",
            "enroll the PC (`kiosk-agent enroll`) or run `kiosk-agent install` with the "
            "region's answers file, which names the feed",
        )
    if f.service_status is None:
        return Check("blocklist", SKIPPED, "unknown while the service is not answering")
    lists = f.service_status.get("filter", {}).get("lists") or []
    updated = [e.get("updated_at") for e in lists if isinstance(e.get("updated_at"), int | float)]
    if not updated:
        return Check(
            "blocklist",
            PROBLEM,
            "no blocklist has been loaded yet",
            "check the internet connection; `kiosk-agent logs` shows why the update failed",
        )
    age = f.now - max(updated)
    if age > FEED_STALE_SECONDS:
        return Check(
            "blocklist",
            PROBLEM,
            f"the blocklist was last updated {age / 86400:.0f} days ago",
            "check the internet connection and the clock; use the tray's 'Update now'",
        )
    return Check("blocklist", OK, f"updated {age / 3600:.0f} hours ago")


def _check_clock(f: Facts) -> Check:
    if f.clock_offset is not None and abs(f.clock_offset) > CLOCK_OFF_SECONDS:
        direction = "behind" if f.clock_offset > 0 else "ahead"
        return Check(
            "clock",
            PROBLEM,
            f"the PC's clock is {abs(f.clock_offset) / 60:.0f} minutes {direction} "
            "(the agent corrects for it, but websites and updates may fail)",
            "set the date and time (Windows: Settings > Time > Sync now; Linux: "
            "`timedatectl set-ntp true`); replace the CMOS battery if it keeps happening",
        )
    if f.now < EARLIEST_SANE_TIME:
        return Check(
            "clock",
            PROBLEM,
            "the PC's clock shows a date before 2025",
            "set the date and time; replace the CMOS battery if it keeps happening",
        )
    return Check("clock", OK, "the PC's clock is right")


def _check_ui(f: Facts) -> Check:
    if f.desktop_sessions is None:
        return Check("notice", SKIPPED, "cannot tell who is logged in on this PC")
    if f.desktop_sessions == 0:
        return Check("notice", SKIPPED, "no one is logged in to a desktop right now")
    if f.ui_processes == 0:
        return Check(
            "notice",
            PROBLEM,
            "a customer session is open but the notice and tray are not running",
            "log out and in again (the notice starts at login); if it does not, run "
            "`kiosk-agent install` again to repair the autostart entry",
        )
    return Check("notice", OK, "the notice and tray run in the desktop session")


def _check_shaping(f: Facts) -> Check:
    if f.shaping_available:
        return Check("text shaping", OK, "every shipped language can be drawn")
    return Check(
        "text shaping",
        PROBLEM,
        f"text shaping is unavailable ({f.shaping_reason}): the notice shows only "
        "Latin-script languages and Amharic",
        "download the program again and re-install (it carries FriBiDi); report this",
    )


def _check_server(f: Facts) -> Check:
    if f.server is None:
        return Check("regional server", SKIPPED, "no regional server is configured")
    if f.server_error is not None:
        return Check(
            "regional server",
            PROBLEM,
            f"cannot reach {f.server} ({f.server_error}); counts wait on the PC",
            "check the internet connection; if other sites work, tell the coordinator",
        )
    return Check("regional server", OK, f"{f.server} can be reached")


def _check_disk(f: Facts) -> Check:
    if f.free_bytes is None:
        return Check("disk space", SKIPPED, f"cannot read free space for {f.state_dir}")
    mib = f.free_bytes / 2**20
    if f.free_bytes < MIN_FREE_BYTES:
        return Check(
            "disk space",
            PROBLEM,
            f"only {mib:.0f} MiB free for {f.state_dir}: lists and counts may not be saved",
            "free some space (empty the recycle bin, remove old downloads)",
        )
    return Check("disk space", OK, f"{mib:,.0f} MiB free")


def _check_browsers(f: Facts) -> Check:
    if f.browsers is None:
        return Check(
            "browser guard", SKIPPED, f"cannot read the browsers' policies ({f.browsers_error})"
        )
    if not f.browsers:
        return Check("browser guard", SKIPPED, "no Chromium, Chrome, Edge or Firefox found")
    missing = [b for b in f.browsers if not b.guarded]
    if not missing:
        names = ", ".join(b.browser for b in f.browsers)
        return Check("browser guard", OK, f"the guard is enforced in {names}")
    said = "; ".join(f"{b.browser}: {b.reason} ({b.where})" for b in missing)
    return Check(
        "browser guard",
        PROBLEM,
        f"{', '.join(b.browser for b in missing)} "
        f"{'runs' if len(missing) == 1 else 'run'} without the browser guard, so listed "
        f"pages on HTTPS sites open there ({said})",
        "run `kiosk-agent install` again (it writes the policies); Chrome and Edge on a "
        "Windows PC outside a domain take the guard only from their stores: see "
        "docs/browser-guard.md, or remove that browser and use one the guard covers",
    )


CHECKS: tuple[Callable[[Facts], Check], ...] = (
    _check_service,
    _check_system_dns,
    _check_feed,
    _check_clock,
    _check_ui,
    _check_shaping,
    _check_server,
    _check_disk,
    _check_browsers,
)


def evaluate(facts: Facts) -> list[Check]:
    return [check(facts) for check in CHECKS]


def all_well(checks: Sequence[Check]) -> bool:
    return all(c.status != PROBLEM for c in checks)


def render(checks: Sequence[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{c.status.upper():8} {c.name}: {c.message}")
        if c.fix:
            lines.append(f"{'':8} what to do: {c.fix}")
    verdict = "All is well." if all_well(checks) else "Something needs attention (see above)."
    return "\n".join([*lines, "", verdict])


def as_json(checks: Sequence[Check]) -> dict[str, Any]:
    return {"ok": all_well(checks), "checks": [asdict(c) for c in checks]}


# -- gathering (I/O) -------------------------------------------------------------------


def _server_reachable(url: str, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to the server's host and port opens, else why not."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "not a URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return e.strerror or str(e)


def _free_bytes(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def count_ui_processes(processes: Sequence[Sequence[str]]) -> int:
    """How many command lines are a running `kiosk-agent ui` (supervisor or child)."""
    count = 0
    for argv in processes:
        words = [a.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] for a in argv]
        program = any(w.startswith("kiosk-agent") or w == "kiosk_agent" for w in words)
        if program and "ui" in words:
            count += 1
    return count


def _ui_processes() -> int:
    import psutil

    lines: list[list[str]] = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        lines.append([str(a) for a in cmdline])
    return count_ui_processes(lines)


def gather(config: Config, platform: Any, now: float | None = None) -> Facts:
    """Read every fact; each read is contained, so one failure is one finding."""
    from kiosk_agent.filter.watchdog import agent_servers
    from kiosk_agent.net.clock import Clock
    from kiosk_agent.net.dns_probe import answers
    from kiosk_agent.notices.shaping import status as shaping_status
    from kiosk_agent.platform.base import PlatformError
    from kiosk_agent.service.control_client import ControlClient, ControlError

    facts = Facts(now=time.time() if now is None else now)
    facts.listen = [str(a) for a in config.filter.listen]
    facts.state_dir = str(config.state_dir)
    try:
        facts.service_status = ControlClient.from_config(config, timeout=5.0).status()
    except (ControlError, OSError) as e:
        facts.service_error = str(e)
    facts.dns_answering = any(answers(a, timeout=1.0) is not None for a in config.filter.listen)
    facts.manage_system_dns = config.filter.manage_system_dns
    facts.agent_servers = agent_servers(config.filter.listen)
    try:
        facts.system_dns = list(platform.read_dns().all_servers())
    except (PlatformError, OSError) as e:
        facts.system_dns_error = str(e)
    facts.feeds_configured = len(config.filter.feeds)
    try:
        facts.clock_offset = Clock(config.state_dir).offset
    except Exception:
        facts.clock_offset = None
    try:
        facts.desktop_sessions = len(platform.desktop_sessions())
    except Exception:
        facts.desktop_sessions = None
    try:
        facts.ui_processes = _ui_processes()
    except Exception:
        facts.ui_processes = 0
    shaping = shaping_status()
    facts.shaping_available, facts.shaping_reason = shaping.available, shaping.reason
    facts.server = config.reporting.server
    if facts.server:
        facts.server_error = _server_reachable(facts.server)
    facts.free_bytes = _free_bytes(config.state_dir)
    try:
        from kiosk_agent.platform.browser_policies import load_policy

        root = Path(getattr(platform, "dns_root", None) or "/")  # --root: a test install
        policy = load_policy(config.state_dir)
        facts.browsers = list(platform.browser_guard_states(root, policy))
    except (PlatformError, OSError) as e:
        facts.browsers_error = str(e)
    return facts
