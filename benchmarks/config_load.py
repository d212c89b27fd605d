"""Import time and RSS of the config loader, side by side for several source trees.

`python -m benchmarks.config_load [--runs 7] [TREE ...]` (default: this tree)

Each run starts, for each tree in turn (so load drifts hit every tree alike), fresh
interpreters with that tree first on ``sys.path``:

- ``python -X importtime -c 'import kiosk_agent.config'``: the time ``kiosk_agent.config``
  takes itself (own), with what it imports (yaml included), and the total of every import
  the interpreter made;
- a child that imports ``kiosk_agent.config``, loads ``config/agent.example.yaml`` and a
  demo-shaped config (``demo: true``, the DEMO key trusted, loopback addresses), then reads
  its VmRSS and VmHWM from ``/proc/self/status`` and times 200 loads of the example;
- a child that starts ``tracemalloc``, imports ``kiosk_agent.config`` and loads both
  configs: the Python heap it keeps after ``gc.collect()`` (exact to the byte, where RSS
  moves in 4 KiB pages and 256 KiB arenas).

Bytecode is cached (``PYTHONPYCACHEPREFIX`` in a temporary folder, one warm-up per tree)
as in an installed program, even when ``PYTHONDONTWRITEBYTECODE`` is set.

Prints min and median per tree and figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DEMO_CONFIG = """\
demo: true
state_dir: {state}
cafe: {{name: "Sunrise Net Café (DEMO)", country: KE, region: KE-NBO, languages: [sw, en]}}
operator: {{pin_scrypt: "scrypt$DEMO"}}
filter:
  listen: ["127.0.0.1:5353"]
  upstreams: ["127.0.0.1:5354"]
  upstream_timeout: 1s
  blockpage_listen: "127.0.0.1:8080"
  feeds:
    - url: http://127.0.0.1:8000/feeds/demo
      trust: ["ed25519:rhp28ZHKQKvTFLRmViAt5opfJXTY6tfgSeZ2B0Ny4TI="]
  update_every: 1m
notices: {{triggers: [billing_hook, agent_start], min_display: 3s}}
reporting: {{server: "http://127.0.0.1:8000", flush_every: 1s, upload_every: 1m}}
control: {{listen: "127.0.0.1:8053"}}
"""

CHILD = """\
import json, re, sys, time
from pathlib import Path
import kiosk_agent.config as c
example, demo = sys.argv[1], sys.argv[2]
c.load_config(example)
assert c.load_config(demo).demo
status = Path("/proc/self/status").read_text()
mem = {k: int(v) / 1000 for k, v in re.findall(r"^(VmRSS|VmHWM):\\s+(\\d+) kB", status, re.M)}
start = time.perf_counter()
for _ in range(200):
    c.load_config(example)
load_us = (time.perf_counter() - start) / 200 * 1e6
print(json.dumps({"file": c.__file__, "rss_mb": mem["VmRSS"], "hwm_mb": mem["VmHWM"],
                  "load_us": load_us}))
"""


HEAP_CHILD = """\
import gc, sys, tracemalloc
tracemalloc.start()
import kiosk_agent.config as c
c.load_config(sys.argv[1])
c.load_config(sys.argv[2])
gc.collect()
print(tracemalloc.get_traced_memory()[0] / 1000)
"""


def python(tree: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter in ``tree`` (so its ``kiosk_agent`` is the one imported)."""
    return subprocess.run(
        [sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, check=True
    )


def import_times(tree: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """kiosk_agent.config's own and cumulative time, all imports: ms, from ``-X importtime``."""
    done = python(tree, env, "-X", "importtime", "-c", "import kiosk_agent.config")
    total = 0
    config = None
    config_self = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = (p.strip() for p in line[len("import time:") :].split("|"))
        total += int(self_us)
        if name == "kiosk_agent.config":
            config, config_self = int(cumulative), int(self_us)
    if config is None:
        raise SystemExit(f"{tree}: no kiosk_agent.config line in -X importtime output")
    return config_self / 1000, config / 1000, total / 1000


def memory_and_load(tree: Path, env: dict[str, str], example: Path, demo: Path) -> dict[str, float]:
    done = python(tree, env, "-c", CHILD, str(example), str(demo))
    found: dict[str, object] = json.loads(done.stdout)
    if not str(found.pop("file")).startswith(str(tree.resolve())):
        raise SystemExit(f"{tree}: the child imported another tree's kiosk_agent")
    figures = {k: float(str(v)) for k, v in found.items()}
    heap = python(tree, env, "-c", HEAP_CHILD, str(example), str(demo))
    figures["heap_kb"] = float(heap.stdout)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("trees", nargs="*", type=Path, default=[REPO], help="source trees")
    parser.add_argument("--runs", type=int, default=7, help="repetitions per tree (7)")
    args = parser.parse_args(argv)
    trees: list[Path] = [t.resolve() for t in args.trees]
    figures: dict[Path, dict[str, list[float]]] = {t: {} for t in trees}
    with tempfile.TemporaryDirectory(prefix="config-load-") as tmpname:
        demo = Path(tmpname) / "demo.yaml"
        demo.write_text(DEMO_CONFIG.format(state=Path(tmpname) / "state"), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmpname) / "pycache")
        for tree in trees:  # warm-up: writes the bytecode cache
            import_times(tree, env)
        for _ in range(args.runs):
            for tree in trees:
                own_ms, config_ms, total_ms = import_times(tree, env)
                row = {
                    "import_own_ms": own_ms,
                    "import_config_ms": config_ms,
                    "import_total_ms": total_ms,
                }
                example = tree / "config" / "agent.example.yaml"
                row |= memory_and_load(tree, env, example, demo)
                for name, value in row.items():
                    figures[tree].setdefault(name, []).append(value)
    print(f"{'tree':<40} {'figure':<18} {'min':>9} {'median':>9}")
    for tree in trees:
        for name, values in figures[tree].items():
            print(f"{tree!s:<40} {name:<18} {min(values):>9.1f} {statistics.median(values):>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
