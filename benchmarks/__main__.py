"""`python -m benchmarks`: run every benchmark module listed in BENCHMARKS, in order."""

from __future__ import annotations

import importlib
import sys

# One line per benchmark module; each has main(argv) -> int.
BENCHMARKS: tuple[str, ...] = (
    "benchmarks.index_bench",
    "benchmarks.feed_bench",
    "benchmarks.reporting",
    "benchmarks.resolver_bench",
    "benchmarks.resolver_parts",
    "benchmarks.notices_ui",
    "benchmarks.startup_bench",
    "benchmarks.config_load",
    "benchmarks.server_bench",
    "benchmarks.national_bench",
    "benchmarks.proxy_bench",
    "benchmarks.kiosk_rss",
    "benchmarks.browser_guard_bench",
)


def main() -> int:
    status = 0
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        status |= importlib.import_module(name).main([])
    return status


if __name__ == "__main__":
    sys.exit(main())
