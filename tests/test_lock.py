"""requirements.lock covers pyproject.toml: every dependency named there is pinned, with
hashes, at a version inside the stated range (else `make lock` was forgotten)."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT


def _pins() -> dict[str, str]:
    text = (REPO_ROOT / "requirements.lock").read_text()
    return {
        canonicalize_name(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, re.MULTILINE)
    }


def _requirements() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        names += extra
    found = [Requirement(n) for n in names]
    return [r for r in found if canonicalize_name(r.name) != "kiosk-agent"]


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    for req in _requirements():
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} in the lock is outside {req.specifier}: run `make lock`"
        )


def test_every_pin_has_hashes_and_the_majors_are_bounded() -> None:
    text = (REPO_ROOT / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)
    pinned = [b for b in blocks if re.match(r"[A-Za-z0-9_.-]+==", b)]
    assert len(pinned) == len(_pins()) > 50
    assert all("--hash=sha256:" in b for b in pinned)
    bounded = {str(canonicalize_name(r.name)): r.specifier for r in _requirements()}
    assert not bounded["pyinstaller"].contains("7.0") and bounded["pyinstaller"].contains("6.6")
    assert not bounded["urllib3"].contains("3.0") and bounded["urllib3"].contains("2.0")
