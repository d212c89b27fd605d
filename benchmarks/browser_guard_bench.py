"""Issue 23: the time the browser guard adds to a navigation in Chromium, and its memory.

Two headless Chromium profiles, one with the extension and one without, load the same
pages from an HTTPS origin on loopback, alternately (so drift on a shared machine hits
both alike): pages on a host with no listed pages (ordinary browsing: no request to the
agent) and pages on a suspect host (one loopback request each). Reports the median and
p90 of each profile's load time (navigation start to load event) and the difference;
then the extension's JavaScript heap and the browsers' resident memory.

    python -m benchmarks.browser_guard_bench [--rounds 200] [--guard-dir DIR]

``--guard-dir``: another copy of ``browser_guard/`` (an older version, to compare).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.browser_guard.world import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    World,
    extension_copy,
    resolver_rules,
)

NAV_TIME = (
    "(() => { const n = performance.getEntriesByType('navigation')[0];"
    " return [n.responseEnd - n.startTime, n.loadEventEnd - n.startTime]; })()"
)


def _launch(p: Any, profile: Path, ext: Path | None) -> Any:
    args = [*CHROMIUM_FLAGS, f"--host-resolver-rules={resolver_rules()}"]
    if ext is not None:
        args += [f"--disable-extensions-except={ext}", f"--load-extension={ext}"]
    # without: the same browser with its built-in component extensions, as with
    return p.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=False, ignore_https_errors=True, args=args
    )


def _pss_kib(profile: Path, only: bytes = b"") -> int:
    """Proportional set size (shared pages split between their users) of the browser's
    processes (command line naming ``profile``; and ``only``, when given)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if str(profile).encode() not in cmdline or only not in cmdline:
                continue
            for line in (proc / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def _measure(page: Any, url: str) -> tuple[float, float]:
    """(response end, load event end), ms from the navigation's start."""
    page.goto(url, wait_until="load")
    response, load = page.evaluate(NAV_TIME)
    return float(response), float(load)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="browser_guard_bench")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--guard-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="guard-bench-") as tmp_text:
        tmp = Path(tmp_text)
        world = World(tmp)
        world.start()
        try:
            ext = extension_copy(tmp / "extension", world.api, args.guard_dir)
            with sync_playwright() as p:
                guarded = _launch(p, tmp / "with", ext)
                plain = _launch(p, tmp / "without", None)
                worker = guarded.service_workers or [guarded.wait_for_event("serviceworker")]
                pages = {"with": guarded.new_page(), "without": plain.new_page()}
                for page in pages.values():  # warm both: TLS session, caches, the hint
                    for i in range(20):
                        _measure(page, world.url("plain.test", f"/warm/{i}.html"))
                        _measure(page, world.url("pages.test", f"/warm/{i}.html"))
                before = world.guard_counts()
                times: dict[tuple[str, str], list[tuple[float, float]]] = {}
                for i in range(args.rounds):
                    for host in ("plain.test", "pages.test"):
                        for name in ("with", "without") if i % 2 else ("without", "with"):
                            url = world.url(host, f"/gallery/{i}/page.html?q={i}")
                            times.setdefault((name, host), []).append(_measure(pages[name], url))
                after = world.guard_counts()
                stats = worker[0].evaluate("guard().then((g) => g.stats)")
                time.sleep(1)
                pss_with, pss_without = _pss_kib(tmp / "with"), _pss_kib(tmp / "without")
                pss_extension = _pss_kib(tmp / "with", b"--extension-process")
                guarded.close()
                plain.close()
        finally:
            world.stop()
    print(f"{args.rounds} navigations per profile and host, alternating; ms from navigation start")
    for host in ("plain.test", "pages.test"):
        kind = "no listed pages" if host == "plain.test" else "suspect host"
        for i, phase in enumerate(("response end", "load event")):
            w = [t[i] for t in times[("with", host)]]
            wo = [t[i] for t in times[("without", host)]]
            med_w, med_wo = statistics.median(w), statistics.median(wo)
            print(
                f"  {host} ({kind}), {phase}: median with {med_w:.2f} / without {med_wo:.2f}"
                f" -> added {med_w - med_wo:+.2f} ms; p90 {p90(w):.2f} / {p90(wo):.2f}"
            )
    print(
        f"  guard API requests during the runs: {after['requests'] - before['requests']} "
        f"(checks {after['checks'] - before['checks']}); extension: {stats}"
    )
    print(
        f"  memory (PSS): extension process {pss_extension / 1024:.1f} MiB; whole browser "
        f"with the extension {pss_with / 1024:.1f} MiB, without {pss_without / 1024:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
