"""Run a program as on a PC without the system's text-shaping libraries (tests, check_bundle).

A private mount namespace (``unshare --mount``, root) in which an empty file is
bind-mounted over every system FriBiDi, Raqm and HarfBuzz library: opening one fails as
it would on a café PC that does not have it. Nothing outside the namespace changes, and
the namespace ends with the program.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# Directories the dynamic loader searches on Debian/Ubuntu and most Linux distributions.
LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)
SHAPING_LIBRARIES = ("libfribidi", "libraqm", "libharfbuzz")


def system_shaping_libraries(dirs: Sequence[str] = LIBRARY_DIRS) -> list[str]:
    """The real files (symbolic links resolved, each once) of the system's FriBiDi, Raqm
    and HarfBuzz libraries."""
    found: dict[str, None] = {}
    for folder in dirs:
        base = Path(folder)
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.name.startswith(SHAPING_LIBRARIES) and ".so" in path.name:
                found[str(path.resolve())] = None
    return list(found)


def hidden_shaping_command(argv: Sequence[str], empty_file: str) -> list[str]:
    """``argv`` run in a private mount namespace (needs root and util-linux ``unshare``)
    where an empty file is bind-mounted over every system shaping library: opening one
    fails as on a PC that does not have it. Nothing outside the namespace changes."""
    script = (
        'empty="$1"; shift; n="$1"; shift; i=0; '
        'while [ "$i" -lt "$n" ]; do mount --bind "$empty" "$1" || exit 97; '
        'shift; i=$((i+1)); done; exec "$@"'
    )
    libs = system_shaping_libraries()
    return [
        "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
        empty_file, str(len(libs)), *libs, *argv,
    ]  # fmt: skip
