"""Feed bundle benchmark: `kiosk-agent feed build` on generated lists, sizes on the wire.

For each size it writes a list of generated 3-label names, times ``feed build`` (full),
then changes 1% of the list and times ``feed build --base`` (delta), and times
``feed verify``; it reports bytes per entry (full) and per changed entry (delta), and
the in-process Rice encode/decode speed.

Run: ``python -m benchmarks.feed_bench [--sizes 100000,1000000]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.index_bench import _words, miss_name, name


def _cli(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kiosk_agent", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kiosk-agent {' '.join(args)} failed: {done.stderr}")
    return time.perf_counter() - t, done


def _rice_speed(n: int) -> tuple[float, float]:
    import random
    from array import array

    from kiosk_agent.contracts import rice

    rnd = random.Random(3)
    values = array("Q", sorted({rnd.getrandbits(64) for _ in range(n)}))
    t = time.perf_counter()
    sec = rice.encode(values)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    for _ in rice.iter_decode(sec.k, sec.count, sec.unary, sec.low):
        pass
    return enc, time.perf_counter() - t


def bench(n: int) -> str:
    words = _words(1)
    with tempfile.TemporaryDirectory(prefix="kiosk-feed-bench-") as tmp:
        d = Path(tmp)
        key = d / "k.key"
        _, done = _cli(["feed", "keygen", "--out", str(key)])
        pub = done.stdout.strip().splitlines()[-1]
        src = d / "list.txt"
        with src.open("w") as f:
            f.writelines(name(i, words) + "\n" for i in range(n))
        full1 = d / "full-1.bundle"
        build = ["feed", "build", "--key", str(key), "--list-id", "bench"]
        t_full, _ = _cli(
            [*build, "--version", "1", "--category", f"csam={src}", "--out", str(full1)]
        )
        change = max(1, n // 200)
        with src.open("w") as f:
            f.writelines(name(i, words) + "\n" for i in range(change, n))
            f.writelines(miss_name(n + i, words) + "\n" for i in range(change))
        delta = d / "delta-1-2.bundle"
        t_delta, _ = _cli(
            [
                *build,
                "--version",
                "2",
                "--category",
                f"csam={src}",
                "--base",
                str(full1),
                "--out",
                str(delta),
            ]
        )
        t_verify, _ = _cli(["feed", "verify", str(full1), "--trust", pub])
        enc, dec = _rice_speed(n)
        return (
            f"| {n:,} | {t_full:.1f} s | {full1.stat().st_size / n:.2f} | "
            f"{t_delta:.1f} s | {delta.stat().st_size / (2 * change):.2f} ({2 * change:,}) | "
            f"{t_verify:.1f} s | {enc:.2f} s / {dec:.2f} s |"
        )


HEADER = (
    "| names | `feed build` (full) | bytes/entry | `feed build --base` (1% changed) "
    "| bytes/changed entry (changes) | `feed verify` | Rice encode / decode |\n"
    "|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.feed_bench", description=__doc__)
    p.add_argument("--sizes", default="100000,1000000")
    args = p.parse_args(argv)
    print(HEADER, flush=True)
    for n in (int(s) for s in args.sizes.split(",") if s):
        print(bench(n), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
