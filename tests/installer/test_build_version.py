"""The version a one-file program was built as (KIOSK_BUILD_VERSION, installer/README.md):
kiosk_agent/__init__.py reads the generated module ``kiosk_agent_build`` only when frozen.

The real builds are checked in test_executable.py and tests/e2e/test_program_update.py."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator

import pytest

import kiosk_agent

CHECKOUT_VERSION = kiosk_agent.__version__


@pytest.fixture
def reload_afterwards() -> Iterator[None]:
    yield
    sys.modules.pop("kiosk_agent_build", None)
    sys.__dict__.pop("frozen", None)
    importlib.reload(kiosk_agent)
    assert kiosk_agent.__version__ == CHECKOUT_VERSION


def _generated(version: object) -> None:
    module = types.ModuleType("kiosk_agent_build")
    module.__dict__["VERSION"] = version
    sys.modules["kiosk_agent_build"] = module


def test_no_generated_module_means_no_build_version() -> None:
    assert "kiosk_agent_build" not in sys.modules
    assert kiosk_agent._build_version() is None


@pytest.mark.usefixtures("reload_afterwards")
def test_the_generated_module_names_the_version() -> None:
    _generated("9.8.7")
    assert kiosk_agent._build_version() == "9.8.7"
    for wrong in (None, "", 987):
        _generated(wrong)
        assert kiosk_agent._build_version() is None


@pytest.mark.usefixtures("reload_afterwards")
def test_only_a_frozen_program_takes_it() -> None:
    _generated("9.8.7")
    importlib.reload(kiosk_agent)
    assert kiosk_agent.__version__ == CHECKOUT_VERSION  # a checkout: never
    sys.__dict__["frozen"] = True  # what PyInstaller's bootloader sets
    importlib.reload(kiosk_agent)
    assert kiosk_agent.__version__ == "9.8.7"
    sys.modules.pop("kiosk_agent_build")
    importlib.reload(kiosk_agent)
    assert kiosk_agent.__version__ == CHECKOUT_VERSION  # built without the variable
