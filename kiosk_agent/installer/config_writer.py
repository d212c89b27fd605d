"""The installed config: the wizard's answers over the current config (a repair keeps what
the operator or the coordinator changed), with the keys an installed kiosk needs forced.

Validated with the agent's own config loader before anything is written.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

from kiosk_agent.config import ConfigError, config_from_mapping
from kiosk_agent.errors import UserError
from kiosk_agent.installer.answers import Answers
from kiosk_agent.platform.base import InstallLayout
from kiosk_agent.service.pin import hash_pin

HEADER = """\
# kiosk-agent configuration, written by `kiosk-agent install` (run it again to change the
# answers or to repair). Every key is described in agent.example.yaml next to the program.
# Check this file with:  kiosk-agent config check PATH
"""
UI_HEADER = """\
# The UI's copy of the config (without the operator section, which holds the PIN hash):
# readable by the customer's account. Rewritten by `kiosk-agent install`.
"""


def installed_config(
    answers: Answers, layout: InstallLayout, existing: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The config mapping to install; raises ``UserError`` if it would not load."""
    data: dict[str, Any] = copy.deepcopy(dict(existing or {}))
    data["state_dir"] = str(layout.state_dir)
    data["cafe"] = {
        "name": answers.cafe_name,
        "country": answers.country,
        "region": answers.region,
        "languages": list(answers.languages),
    }
    old_pin = (data.get("operator") or {}).get("pin_scrypt")
    pin_scrypt: str | None = (
        hash_pin(answers.pin) if answers.pin is not None else answers.pin_scrypt or old_pin
    )
    if not pin_scrypt:
        raise UserError("an operator PIN is needed (operator_pin in the answers file)")
    data["operator"] = {"pin_scrypt": pin_scrypt}
    filt = dict(data.get("filter") or {})
    # An installed kiosk points the OS at its resolver and watches that it stays so.
    filt["manage_system_dns"] = True
    filt.setdefault("listen", ["127.0.0.1:53"])
    filt.setdefault("upstreams", ["auto"])
    if answers.feeds:
        filt["feeds"] = [dict(f) for f in answers.feeds]
    data["filter"] = filt
    if answers.updates is not None:
        # The keys pinned at install: content, settings, the region's roots (docs/keys.md).
        data["updates"] = copy.deepcopy(answers.updates)
    if answers.server:
        reporting = dict(data.get("reporting") or {})
        reporting["server"] = answers.server
        data["reporting"] = reporting
    try:
        config_from_mapping(data, "installed config")
    except ConfigError as e:
        raise UserError(str(e)) from None
    return data


def ui_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """The same config without the operator section."""
    return {k: copy.deepcopy(v) for k, v in data.items() if k != "operator"}


def render(data: Mapping[str, Any], header: str = HEADER) -> str:
    return header + yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)


def read_existing(text: str | None) -> dict[str, Any] | None:
    """The current config as a plain mapping, or None if absent or unreadable (a broken
    config is replaced: that is what a repair is for)."""
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return dict(data) if isinstance(data, Mapping) else None
