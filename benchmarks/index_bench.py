"""Blocklist index benchmark: memory per entry, time to usable, lookups/s, update peak.

For each size (generated 3-label names ``<word><i>.<word>.test``) it writes a signed full
bundle, a delta changing 1% of the list and a full bundle of the next version, builds the
index, then measures in fresh processes (so nothing the parent allocated is counted):

- RSS per entry: (RSS with the index open and every page touched - RSS before) / entries
- time to usable: from spawning ``python`` to the first answered lookup (wall time, and
  the CPU time the process used until then), and ``open()`` alone
- ``lookup_host`` calls per second for 3-label names, hits and misses, CPU time of one core
  (and wall time, which on a shared machine also counts other people's work)
- peak RSS while verifying and applying the delta (and, separately, the full bundle) and
  swapping to the new index, divided by the steady RSS before the update

Run: ``python -m benchmarks.index_bench [--sizes 100000,1000000,5000000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

WORDS = 2000
CHILD_LOOKUPS = 200_000


def _words(seed: int) -> list[str]:
    rnd = random.Random(seed)
    abc = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rnd.choices(abc, k=rnd.randint(4, 9))) for _ in range(WORDS)]


def name(i: int, words: list[str]) -> str:
    """The i-th generated listed name: three labels, unique by the number in the first."""
    return f"{words[i % WORDS]}{i}.{words[(i * 7 + 3) % WORDS]}.test"


def miss_name(i: int, words: list[str]) -> str:
    """A 3-label name that is not listed (its second-level domain is not either)."""
    return f"{words[i % WORDS]}{i}.{words[(i * 5 + 1) % WORDS]}x.test"


def _prepare(n: int, workdir: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kiosk_agent.contracts import feed
    from kiosk_agent.filter import index
    from kiosk_agent.filter.urls import hash_int

    words = _words(1)
    key = Ed25519PrivateKey.generate()
    pub = feed.public_key_string(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    t = time.perf_counter()
    hashes = array("Q", sorted({hash_int(name(i, words) + "/") for i in range(n)}))
    hash_s = time.perf_counter() - t
    cats = (feed.Category(1, "csam", "Child sexual abuse material"),)
    now = int(time.time())
    common: dict[str, Any] = {
        "key": key,
        "issuer": "bench",
        "list_id": "bench",
        "created": now,
        "expires": now + 86400,
    }
    t = time.perf_counter()
    full1 = feed.encode_full(feed.FeedEntries(cats, {1: hashes}), version=1, **common)
    encode_s = time.perf_counter() - t
    change = max(1, n // 200)  # 0.5% removed + 0.5% added = 1% of the list changed
    removed = array("Q", sorted({hash_int(name(i, words) + "/") for i in range(change)}))
    added = array("Q", sorted({hash_int(miss_name(n + i, words) + "/") for i in range(change)}))
    delta12 = feed.encode_bundle(
        categories=cats,
        adds={1: added},
        removes={1: removed},
        base_version=1,
        version=2,
        result_count=len(hashes),
        **common,
    )
    full3 = feed.encode_full(feed.FeedEntries(cats, {1: hashes}), version=3, **common)
    del hashes
    paths = {}
    for label, data in (("full1", full1), ("delta12", delta12), ("full3", full3)):
        p = workdir / f"{label}.bundle"
        p.write_bytes(data)
        paths[label] = str(p)
    idx_path = workdir / "bench.idx"
    t = time.perf_counter()
    bundle = feed.read_bundle(workdir / "full1.bundle", [pub])
    verify_s = time.perf_counter() - t
    t = time.perf_counter()
    index.apply_bundle(idx_path, bundle)
    build_s = time.perf_counter() - t
    return {
        "n": n,
        "pub": pub,
        "index": str(idx_path),
        "paths": paths,
        "words_seed": 1,
        "full_bytes_per_entry": len(full1) / n,
        "delta_bytes_per_change": len(delta12) / (2 * change),
        "changes": 2 * change,
        "index_bytes_per_entry": idx_path.stat().st_size / n,
        "hash_s": hash_s,
        "encode_s": encode_s,
        "verify_decode_s": verify_s,
        "index_build_s": build_s,
    }


def _rss() -> int:
    """Resident set size now, from /proc (no psutil import to skew the baseline)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss)


def _reset_peak() -> None:
    """Reset the kernel's RSS high-water mark (VmHWM): ru_maxrss would still carry the
    parent's RSS from before the fork."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _warm_crypto() -> None:
    """Sign and verify once: the service has done this before any update it applies."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    key.public_key().verify(key.sign(b"warm"), b"warm")


def _child(args: argparse.Namespace) -> int:
    """Runs in a fresh interpreter; prints one JSON line of measurements."""
    started = time.time()
    from kiosk_agent.filter import index  # what the resolver imports to answer

    out: dict[str, Any] = {}
    baseline = _rss()
    t = time.perf_counter()
    holder = index.IndexHolder([index.BlocklistIndex.open(args.index)])
    out["open_s"] = time.perf_counter() - t
    holder.lookup_host("www.example.test")
    out["usable_at"] = time.time()
    out["usable_cpu_s"] = time.process_time()  # CPU since the process started
    out["imports_s"] = out["usable_at"] - started - out["open_s"]
    idx = holder.indexes[0]
    buf = idx._buf
    for off in range(0, len(buf), 4096):  # every page resident: the worst case
        buf[off]
    steady = _rss()
    out["baseline_rss"] = baseline
    out["rss_per_entry"] = (steady - baseline) / len(idx)
    from kiosk_agent.contracts import feed

    _warm_crypto()
    steady = _rss()  # the steady state of a process that verifies bundles
    out["steady_rss"] = steady
    if args.update:
        _reset_peak()
        t = time.perf_counter()
        bundle = feed.read_bundle(
            Path(args.update), [args.pub], applied_version=idx.version, now=time.time()
        )
        holder.update(args.index, bundle)
        del bundle, idx, buf
        out["update_s"] = time.perf_counter() - t
        peak = _peak()
        out["update_peak_rss"] = peak
        out["update_peak_ratio"] = peak / steady
        out["rss_after_update"] = _rss()
        assert holder.versions()["bench"] == bundle_version(args.update)
    if args.lookups:
        words = _words(1)
        n = args.n
        rnd = random.Random(5)
        hits = [name(rnd.randrange(n // 100, n), words) for _ in range(args.lookups)]
        misses = [miss_name(i, words) for i in range(args.lookups)]
        for label, names in (("hits", hits), ("misses", misses)):
            lookup = holder.lookup_host
            cpu, wall = time.process_time(), time.perf_counter()
            found = 0
            for q in names:
                if lookup(q) is not None:
                    found += 1
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            out[f"{label}_cpu_per_s"] = len(names) / cpu
            out[f"{label}_wall_per_s"] = len(names) / wall
            out[f"{label}_found"] = found
    print(json.dumps(out))
    return 0


def bundle_version(path: str) -> int:
    from kiosk_agent.contracts import feed

    return feed.read_header(Path(path)).version


def _spawn(
    prep: dict[str, Any], update: str | None, lookups: int, index_path: str
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.index_bench", "--child", "--index", index_path]
    cmd += ["--n", str(prep["n"]), "--pub", prep["pub"], "--lookups", str(lookups)]
    if update:
        cmd += ["--update", update]
    spawned = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=_env())
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["usable_after_spawn_s"] = out.pop("usable_at") - spawned
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(sizes: list[int], lookups: int) -> list[dict[str, Any]]:
    import shutil

    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="kiosk-index-bench-") as tmp:
            work = Path(tmp)
            prep = _prepare(n, work)
            idx = prep["index"]
            # the delta run also measures lookups afterwards (on the updated index)
            first = _spawn(prep, None, lookups, idx)
            copy = str(work / "delta.idx")
            shutil.copyfile(idx, copy)
            delta = _spawn(prep, prep["paths"]["delta12"], 0, copy)
            full = _spawn(prep, prep["paths"]["full3"], 0, idx)
            results.append({**prep, "first": first, "delta": delta, "full": full})
            print(_row(results[-1]), flush=True)
    return results


def _row(r: dict[str, Any]) -> str:
    f, d, u = r["first"], r["delta"], r["full"]
    return (
        f"| {r['n']:,} | {f['rss_per_entry']:.2f} | {r['index_bytes_per_entry']:.2f} "
        f"| {f['usable_cpu_s']:.2f} / {f['usable_after_spawn_s']:.2f} "
        f"({f['open_s'] * 1000:.1f} ms) "
        f"| {f['hits_cpu_per_s']:,.0f} / {f['misses_cpu_per_s']:,.0f} "
        f"| {f['hits_wall_per_s']:,.0f} / {f['misses_wall_per_s']:,.0f} "
        f"| {d['update_peak_ratio']:.3f} ({d['update_s']:.1f} s) "
        f"| {u['update_peak_ratio']:.3f} ({u['update_s']:.1f} s) "
        f"| {f['steady_rss'] / 1e6:.1f} MB |"
    )


HEADER = (
    "| entries | RSS bytes/entry | file bytes/entry | usable after start: CPU / wall (open) "
    "| lookup_host/s CPU hits / misses | wall hits / misses "
    "| update peak / steady: 1% delta | full bundle | steady RSS |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.index_bench", description=__doc__)
    p.add_argument("--sizes", default="100000,1000000,5000000")
    p.add_argument("--lookups", type=int, default=CHILD_LOOKUPS)
    p.add_argument("--json", metavar="FILE", help="also write the raw results here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--index", help=argparse.SUPPRESS)
    p.add_argument("--update", help=argparse.SUPPRESS)
    p.add_argument("--pub", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(HEADER, flush=True)
    results = run(sizes, args.lookups)
    for r in results:
        print(
            f"# {r['n']:,}: bundle {r['full_bytes_per_entry']:.2f} B/entry, delta "
            f"{r['delta_bytes_per_change']:.2f} B/changed entry ({r['changes']:,} changes); "
            f"hash {r['hash_s']:.1f} s, encode {r['encode_s']:.1f} s, verify+decode "
            f"{r['verify_decode_s']:.1f} s, index build {r['index_build_s']:.1f} s; found "
            f"{r['first']['hits_found']:,} hits / {r['first']['misses_found']:,} misses"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
