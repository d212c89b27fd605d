"""Which upstream resolvers the agent uses: ``filter.upstreams`` with ``auto`` expanded.

``auto`` means the servers the operating system used before the agent was installed,
saved by the installer in ``state_dir/dns-before-install.json``
(``kiosk_agent/platform/saved_dns.py``). The agent's own
listen addresses are never an upstream: that would be a loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from kiosk_agent.config import Config, HostPort, parse_host_port

log = logging.getLogger(__name__)


def saved_servers(state_dir: Path) -> list[str]:
    """The server addresses saved before install, in order; [] when none were saved."""
    from kiosk_agent.platform.saved_dns import load_snapshot

    snapshot = load_snapshot(state_dir)
    return [] if snapshot is None else list(snapshot.all_servers())


def expand_upstreams(
    configured: Sequence[str], auto: Iterable[str], own: Iterable[HostPort]
) -> list[HostPort]:
    """``configured`` with ``auto`` replaced by ``auto``'s servers, minus ``own``, deduplicated."""
    own_set = set(own)
    own_hosts = {a.host for a in own_set if a.port == 53}
    out: list[HostPort] = []
    for item in configured:
        for text in auto if item == "auto" else [item]:
            try:
                address = parse_host_port(text, 53)
            except ValueError:
                log.warning("skipping upstream %r: not an IP address", text)
                continue
            if address in own_set or (address.port == 53 and address.host in own_hosts):
                continue
            if address not in out:
                out.append(address)
    return out


def system_servers() -> Iterator[str]:
    """The OS's current DNS servers, read only when iterated (only needed without a save)."""
    try:
        from kiosk_agent.platform import current

        snapshot = current().read_dns()
    except Exception as e:  # the platform may not read DNS here; ``auto`` then stays empty
        log.warning("cannot read the system's DNS servers: %s", e)
        return
    yield from snapshot.all_servers()


def configured_upstreams(
    config: Config, system: Iterable[str] | None = None, state_dir: Path | None = None
) -> list[HostPort]:
    """The upstreams to use now.

    ``auto`` takes the saved pre-install servers; when none were saved (development, a
    config written by hand) and the agent does not manage the system's DNS, it falls
    back to ``system`` (default ``system_servers()``: what the OS uses now, which then is
    not us). ``direct_http.upstream_servers`` and the resolver both call this.
    """
    auto = saved_servers(state_dir or config.state_dir) if "auto" in config.filter.upstreams else []
    if "auto" in config.filter.upstreams and not auto and not config.filter.manage_system_dns:
        auto = list(system_servers() if system is None else system)
        if auto:
            log.warning("no saved pre-install DNS servers; 'auto' uses the system's: %s", auto)
    return expand_upstreams(config.filter.upstreams, auto, config.filter.listen)
