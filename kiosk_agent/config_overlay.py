"""A region's settings overlay, layered over the local ``agent.yaml``.

An overlay is a mapping in the shape of the config, holding only keys declared
``overlay=True`` in ``config.py`` (feeds and their keys, languages offered, upload window
and budget, P2P policy, notice triggers...). Local-only keys (state folder, listen
addresses, operator PIN, reporting server, trust roots) can never be set by it:
``overlay_problems`` refuses the whole overlay if it names one. Sections merge key by
key; a list (``filter.feeds``, ``cafe.languages``) is replaced whole.

The kiosk receives overlays signed (kind ``settings``, ``kiosk_agent/updates/check.py``
verifies them) and keeps the last good one, verified, as ``state_dir/settings/overlay.json``
(``{"version", "subject", "issuer", "settings"}``), written only by the privileged service.
``load_effective`` reads the local file and that overlay; ``origins`` says where each
effective value came from (``kiosk-agent config show``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any

import yaml

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.config import (
    Config,
    ConfigError,
    config_from_mapping,
    declared_keys,
    load_config,
)

OVERLAY_FILE = Path("settings") / "overlay.json"
CAFE_OVERLAY_FILE = Path("settings") / "cafe-overlay.json"
"""A café's own overlay (subject ``settings-<REGION>--<café>``), laid over the region's."""
FILES = {"region": OVERLAY_FILE, "cafe": CAFE_OVERLAY_FILE}
MAX_OVERLAY = 64 * 1024


@dataclass(frozen=True)
class Overlay:
    """A verified overlay: its version, subject (``settings-<REGION>``), and settings."""

    version: int
    subject: str
    issuer: str
    settings: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"overlay {self.subject} v{self.version}"


def parse_overlay_text(text: bytes) -> dict[str, Any]:
    """The YAML of an overlay body as a mapping; ``ValueError`` for anything else."""
    if len(text) > MAX_OVERLAY:
        raise ValueError("overlay too large")
    try:
        data = yaml.safe_load(text.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        raise ValueError("overlay is not UTF-8 YAML") from None
    if not isinstance(data, dict):
        raise ValueError("overlay is not a mapping of settings")
    return data


def overlay_problems(data: Mapping[str, Any], cls: type = Config, prefix: str = "") -> list[str]:
    """Every key of ``data`` that an overlay may not set (unknown or local-only)."""
    problems: list[str] = []
    declared = {f.name: spec for f, spec in declared_keys(cls)}
    for name, value in data.items():
        path = f"{prefix}{name}"
        spec = declared.get(str(name))
        if spec is None:
            problems.append(f"{path}: not a config key")
        elif spec.section is not None and not spec.overlay:
            if not isinstance(value, Mapping):
                problems.append(f"{path}: expected a mapping")
            else:
                problems += overlay_problems(value, spec.section, path + ".")
        elif not spec.overlay:
            problems.append(f"{path}: local-only; an overlay may not set it")
    return problems


def merge(local: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``local`` with ``overlay`` laid over it: mappings merge, other values replace."""
    out = dict(local)
    for name, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(name), Mapping):
            out[name] = merge(out[name], value)
        else:
            out[name] = value
    return out


def _list(overlays: Overlay | Sequence[Overlay] | None) -> list[Overlay]:
    if overlays is None:
        return []
    return [overlays] if isinstance(overlays, Overlay) else list(overlays)


def effective_config(
    local: Mapping[str, Any], overlays: Overlay | Sequence[Overlay] | None, source: str = "config"
) -> Config:
    """The config from ``local`` (the parsed agent.yaml) with the overlays over it, in
    order (the region's, then the café's).

    Raises ``ConfigError`` when an overlay names a local-only key or the merged config
    is not valid (both mean: refuse the overlay)."""
    merged: Mapping[str, Any] = local
    labels = [source]
    for overlay in _list(overlays):
        problems = overlay_problems(overlay.settings)
        if problems:
            raise ConfigError(problems, overlay.label)
        merged = merge(merged, overlay.settings)
        labels.append(overlay.label)
    return config_from_mapping(merged, " + ".join(labels))


def read_overlay(state_dir: Path, which: str = "region") -> Overlay | None:
    """The last good overlay (``region`` or ``cafe``) applied on this kiosk, or None."""
    try:
        obj = json.loads((state_dir / FILES[which]).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict):
        return None
    version, subject, issuer, settings = (
        obj.get(k) for k in ("version", "subject", "issuer", "settings")
    )
    if not (
        isinstance(version, int)
        and isinstance(subject, str)
        and isinstance(issuer, str)
        and isinstance(settings, dict)
    ):
        return None
    return Overlay(version, subject, issuer, settings)


def read_overlays(state_dir: Path) -> list[Overlay]:
    """The region's overlay, then the café's, as far as they were applied."""
    return [o for o in (read_overlay(state_dir), read_overlay(state_dir, "cafe")) if o]


def save_overlay(state_dir: Path, overlay: Overlay, which: str = "region") -> None:
    obj = {
        "version": overlay.version,
        "subject": overlay.subject,
        "issuer": overlay.issuer,
        "settings": dict(overlay.settings),
    }
    write_text_atomic(state_dir / FILES[which], json.dumps(obj, indent=1, sort_keys=True) + "\n")


def read_local(path: Path) -> dict[str, Any]:
    """The local agent.yaml as parsed YAML (validated by ``load_config`` first)."""
    load_config(path)  # raises ConfigError with every problem of the local file
    data = yaml.safe_load(path.read_text("utf-8"))
    return dict(data) if isinstance(data, Mapping) else {}


def load_effective(path: Path | str) -> Config:
    """The config of ``path`` with the kiosk's applied overlay, if any and still valid.

    An overlay that no longer fits the local file (an operator edited it) is left out,
    and the local config stands: a kiosk always starts."""
    local_path = Path(path)
    local = read_local(local_path)
    config = config_from_mapping(local, str(local_path))
    overlays = fitting_overlays(local, config.state_dir)
    if not overlays:
        return config
    # The overlays cannot move the state folder (local-only), so the source is kept.
    from dataclasses import replace

    return replace(effective_config(local, overlays), source=str(local_path))


def fitting_overlays(local: Mapping[str, Any], state_dir: Path) -> list[Overlay]:
    """The applied overlays that still fit the local file: both, else the region's, else
    none (an operator's edit can make one no longer fit)."""
    overlays = read_overlays(state_dir)
    while overlays:
        try:
            effective_config(local, overlays)
            return overlays
        except ConfigError:
            overlays = overlays[:-1]
    return []


def origins(
    local: Mapping[str, Any], overlays: Overlay | Sequence[Overlay] | None
) -> list[tuple[str, Any, str]]:
    """(key path, effective YAML value, where it came from) for every declared key:
    ``agent.yaml``, the label of the last overlay that sets it, or ``default``."""
    rows = _origins(local, {}, "", Config, "")
    for overlay in _list(overlays):
        over = {p: (v, o) for p, v, o in _origins({}, overlay.settings, overlay.label, Config, "")}
        rows = [
            (p, *over[p]) if over.get(p, (None, "default"))[1] != "default" else (p, v, o)
            for p, v, o in rows
        ]
    return rows


def _origins(
    local: Mapping[str, Any], over: Mapping[str, Any], label: str, cls: type, prefix: str
) -> list[tuple[str, Any, str]]:
    rows: list[tuple[str, Any, str]] = []
    for f, spec in declared_keys(cls):
        path = f"{prefix}{f.name}"
        if spec.section is not None:
            sub_local, sub_over = local.get(f.name), over.get(f.name)
            rows += _origins(
                sub_local if isinstance(sub_local, Mapping) else {},
                sub_over if isinstance(sub_over, Mapping) else {},
                label,
                spec.section,
                path + ".",
            )
        elif f.name in over:
            rows.append((path, over[f.name], label))
        elif f.name in local:
            rows.append((path, local[f.name], "agent.yaml"))
        else:
            default = f.default if f.default_factory is MISSING else f.default_factory()
            rows.append((path, _plain(default), "default"))
    return rows


def _plain(value: Any) -> Any:
    """A default as it would be written in YAML (tuples as lists, addresses as text)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
