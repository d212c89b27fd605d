"""Which settings an overlay changes without a restart, and taking them into a running
process (issue 21): the service's ``updates`` component and the UI call ``take_live``.

Only the keys in ``LIVE_KEYS`` change in a running process; every other changed key
keeps its old value until the next start (``status`` lists them), so a component that
builds its state once (the resolver's lists, SafeSearch, P2P policy) never runs on a
half-changed config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kiosk_agent.config import Config, declared_keys
from kiosk_agent.config_overlay import FILES, load_effective

LIVE_KEYS = frozenset(
    {
        # the upload worker reads the effective config at each round; the service's
        # reporting component reads these at each round or each wait
        "reporting.offpeak",
        "reporting.daily_budget_bytes",
        "reporting.max_link_utilization",
        "reporting.upload_every",
        "updates.check_every",  # read before each wait
        "cafe.languages",  # the block page per page; the UI before each notice
        "notices.min_display",  # the UI, before each notice
        "notices.triggers",  # the UI's session watcher, at its next poll
    }
)


def overlay_keys(cls: type = Config, prefix: str = "") -> Iterator[str]:
    """Every dotted key a settings overlay may set."""
    for f, spec in declared_keys(cls):
        if spec.overlay:
            yield prefix + f.name
        elif spec.section is not None:
            yield from overlay_keys(spec.section, f"{prefix}{f.name}.")


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for f in dataclasses.fields(obj):
        if f.name == "source":
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, value


def changed_keys(old: Config, new: Config) -> list[str]:
    """Dotted keys whose value differs (a list of sections counts as one key)."""
    before = dict(_leaves(old))
    return sorted(k for k, v in _leaves(new) if before.get(k) != v)


def with_live(old: Config, new: Config) -> Config:
    """``old`` with the ``LIVE_KEYS`` of ``new``: what a running process takes."""
    out = old
    for dotted in LIVE_KEYS:
        section_name, name = dotted.split(".")
        section = getattr(out, section_name)
        value = getattr(getattr(new, section_name), name)
        out = dataclasses.replace(
            out, **{section_name: dataclasses.replace(section, **{name: value})}
        )
    return out


def overlay_mark(state_dir: Path) -> tuple[tuple[int, int] | None, ...]:
    """(mtime_ns, size) of each applied overlay file: changes when an overlay is applied."""
    marks: list[tuple[int, int] | None] = []
    for relative in FILES.values():
        try:
            st = (state_dir / relative).stat()
            marks.append((st.st_mtime_ns, st.st_size))
        except OSError:
            marks.append(None)
    return tuple(marks)


@dataclasses.dataclass(frozen=True)
class Taken:
    """The config a running process now uses, and what it could not take."""

    config: Config
    live: list[str]
    """changed keys taken now"""
    restart: list[str]
    """changed keys that wait for the next start"""


def take_live(running: Config) -> Taken | None:
    """Read the effective config again (agent.yaml and the applied overlays) and take
    its live keys into ``running``. None: the config was not read from a file, or it is
    no longer valid (an operator's edit): the process keeps what it has."""
    path = Path(running.source)
    if not path.is_file():
        return None
    try:
        new = load_effective(path)
    except Exception:  # ConfigError, OSError: keep running on what we have
        return None
    changed = changed_keys(running, new)
    live = [k for k in changed if k in LIVE_KEYS]
    return Taken(
        with_live(running, new) if live else running,
        live,
        [k for k in changed if k not in LIVE_KEYS],
    )
