"""The service's status object (``GET /v1/status``, `kiosk-agent status --json`) and its
plain-words rendering for the operator.

``protected`` is true only when every condition a café operator relies on holds: the
resolver answers, filtering is not paused, a list is loaded, and (on an installed kiosk
that manages the system DNS) the system still points at the resolver. ``problems``
says, in plain words, what is missing otherwise.
"""

from __future__ import annotations

import time
from typing import Any

from kiosk_agent import __version__
from kiosk_agent.service.context import ServiceContext


def service_status(ctx: ServiceContext, started: float, now: float | None = None) -> dict[str, Any]:
    """Collect every component's status and judge whether the kiosk is protected."""
    now = time.time() if now is None else now
    components = {name: c.status() for name, c in ctx.components.items()}
    resolver = components.get("resolver", {})
    updater = components.get("updater", {})
    watchdog = components.get("watchdog", {})
    problems: list[str] = []
    if not resolver.get("answering"):
        problems.append("the local DNS filter is not answering")
    paused_until = resolver.get("paused_until")
    if paused_until:
        minutes = max(1, round((paused_until - now) / 60))
        problems.append(f"filtering is paused by the operator for {minutes} more minute(s)")
    if not ctx.config.filter.feeds:
        problems.append("no blocklist feed is configured")
    elif not resolver.get("list_loaded"):
        problems.append("no blocklist has been loaded yet")
    if ctx.config.filter.manage_system_dns and watchdog.get("system_points_at_agent") is False:
        problems.append("the system DNS settings do not point at the filter")
    guard = watchdog.get("dns_guard")
    guard_intact = guard.get("intact") if isinstance(guard, dict) else None
    if ctx.config.filter.manage_system_dns and guard_intact is False:
        problems.append(
            "other programs can send DNS around the filter (the firewall rules are missing)"
        )
    upstreams = resolver.get("upstream", {}).get("servers", [])
    filt = {
        "answering": bool(resolver.get("answering")),
        "listening": resolver.get("listening", []),
        "queries_answered": resolver.get("queries_answered", 0),
        "queries_blocked": resolver.get("queries_blocked", 0),
        "paused_until": paused_until,
        "index_entries": updater.get("index_entries"),
        "lists": updater.get("lists", []),
        "last_update": updater.get("last_update"),
        "upstreams": upstreams,
    }
    protected = not problems
    return {
        "protected": protected,
        "summary": summary_line(protected, problems, filt, now),
        "problems": problems,
        "agent_version": __version__,
        "uptime_seconds": round(now - started),
        "filter": filt,
        "components": components,
    }


def age_words(seconds: float) -> str:
    """``"5 minutes"``, ``"2 hours"``, ``"3 days"``."""
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "less than a minute"


def summary_line(protected: bool, problems: list[str], filt: dict[str, Any], now: float) -> str:
    if not protected:
        return "NOT protected: " + "; ".join(problems) + "."
    lists = filt.get("lists") or []
    updated = [entry.get("updated_at") for entry in lists if entry.get("updated_at")]
    text = "Protected"
    if updated:
        text += f", list updated {age_words(now - max(updated))} ago"
    return text + "."


def describe(status: dict[str, Any], now: float | None = None) -> str:
    """The status in plain words, a few lines, for `kiosk-agent status`."""
    now = time.time() if now is None else now
    filt = status.get("filter", {})
    lines = [str(status.get("summary", ""))]
    if filt.get("answering"):
        lines.append(f"DNS filter answering on {', '.join(filt.get('listening', []))}.")
    lines.append(
        f"Since start: {filt.get('queries_answered', 0):,} queries answered, "
        f"{filt.get('queries_blocked', 0):,} blocked."
    )
    if filt.get("index_entries") is not None:
        lines.append(f"Blocklist entries: {filt['index_entries']:,}.")
    for entry in filt.get("lists", []):
        age = ""
        if entry.get("updated_at"):
            age = f", applied {age_words(now - entry['updated_at'])} ago"
        lines.append(f"List {entry.get('list_id')}: version {entry.get('version')}{age}.")
    last = filt.get("last_update")
    if last:
        when = f" {age_words(now - last['at'])} ago" if last.get("at") else ""
        lines.append(f"Last update check{when}: {last.get('result_words', last.get('result'))}.")
    for up in filt.get("upstreams", []):
        state = "working" if up.get("healthy") else "not answering"
        if up.get("healthy") and up.get("rtt_ms") is not None:
            state += f", {up['rtt_ms']:.1f} ms"
        lines.append(f"Upstream DNS {up.get('address')}: {state}.")
    if not filt.get("upstreams"):
        lines.append("No upstream DNS server is known: only blocked names are answered.")
    lines.extend(_program_lines(status, now))
    return "\n".join(lines)


def _program_lines(status: dict[str, Any], now: float) -> list[str]:
    """The program version and a program update under way or postponed (docs/fleet.md)."""
    components = status.get("components")
    updates = components.get("updates") if isinstance(components, dict) else None
    if not isinstance(updates, dict) or not updates.get("program_version"):
        return []
    line = f"Program version {updates['program_version']}"
    release = updates.get("release")
    if isinstance(release, dict):
        if release.get("phase") not in (None, "idle") and release.get("candidate"):
            line += f"; switching to {release['candidate']} ({release['phase']})"
        until = release.get("postponed_until")
        if isinstance(until, int | float):
            line += f"; program updates postponed for {age_words(until - now)}"
    return [line + "."]
