"""kiosk-agent: a safety agent for internet-café PCs (notices, filtering, reporting)."""

import sys

__version__ = "0.1.0"


def _build_version() -> str | None:
    """The version a one-file program was built as (installer/build.sh,
    KIOSK_BUILD_VERSION: the spec adds the module `kiosk_agent_build`), or None."""
    import importlib

    try:
        module = importlib.import_module("kiosk_agent_build")
    except ImportError:
        return None
    version = getattr(module, "VERSION", None)
    return version if isinstance(version, str) and version else None


# Only a frozen program looks: a checkout always reports the version above (and
# setuptools reads that line as the package's version).
if getattr(sys, "frozen", False):
    __version__ = _build_version() or __version__
