"""Service start to first answered query (target: <= 2 s), and to the first blocked answer.

Starts `kiosk-agent service` (from the sources; the one-file program with ``--exe``; with
``--exe X --installed``, the unpacked program that ``X install --root TMP`` lays out, which
is what an installed kiosk's service runs) with a loopback config and a local test
upstream, and times from process start until the
resolver answers a query, and, with ``--entries N``, until a listed name is answered
NXDOMAIN (the list applied). The first start (which makes the kiosk's key pair and state)
is reported apart from restarts on the same state folder (a PC booting). Everything on
loopback, ports chosen by the OS.

    python -m benchmarks.startup_bench [--runs 5] [--exe dist/kiosk-agent [--installed]]
                                       [--entries 100000]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kiosk_agent.config import HostPort
from kiosk_agent.demo.upstream import DemoUpstream
from kiosk_agent.net.dns_probe import answers, resolve
from kiosk_agent.net.ports import free_port

REPO = Path(__file__).resolve().parent.parent
DEMO_KEY = REPO / "config" / "demo" / "DEMO-feed-signing.key"
DEMO_PUB = REPO / "config" / "demo" / "DEMO-feed-signing.pub"
LISTED = "blocked-demo.test"


def _trust() -> str:
    return next(x for x in DEMO_PUB.read_text().splitlines() if x.startswith("ed25519:"))


def build_feed(workdir: Path, entries: int) -> Path:
    """A DEMO-signed full bundle of ``entries`` generated names plus ``LISTED``."""
    source = workdir / "DEMO-bench-list.txt"
    with source.open("w") as f:
        f.write(f"{LISTED}\n")
        for i in range(entries - 1):
            f.write(f"n{i}.bench-{i % 97}.test\n")
    bundle = workdir / "feed" / "bench-1.bundle"
    bundle.parent.mkdir()
    subprocess.run(
        [sys.executable, "-m", "kiosk_agent", "feed", "build", "--key", str(DEMO_KEY),
         "--list-id", "bench", "--version", "1", "--category", f"abuse={source}",
         "--out", str(bundle)],
        check=True, capture_output=True, cwd=REPO,
    )  # fmt: skip
    source.unlink()
    return bundle


def install_into_prefix(onefile: Path, workdir: Path) -> Path:
    """``onefile install --root`` into ``workdir``; returns the installed program's command."""
    answers = workdir / "answers.yaml"
    answers.write_text(
        'cafe: {name: Bench, country: KE, region: KE-NBO, languages: [en]}\noperator_pin: "4821"\n'
    )
    root = workdir / "root"
    subprocess.run(
        [str(onefile), "install", "--root", str(root), "--answers", str(answers)],
        check=True, capture_output=True,
    )  # fmt: skip
    return root / "opt" / "kiosk-agent" / onefile.name


def one_run(
    command: list[str], workdir: Path, upstream: HostPort, bundle: Path | None
) -> dict[str, float | None]:
    listen = HostPort("127.0.0.1", free_port())
    config = {
        "demo": True,  # it trusts the published DEMO key
        "state_dir": str(workdir / "state"),
        "filter": {
            "listen": [str(listen)],
            "upstreams": [str(upstream)],
            "blockpage_listen": f"127.0.0.1:{free_port()}",
            "feeds": [{"url": bundle.as_uri(), "trust": [_trust()]}] if bundle else [],
        },
        "reporting": {"server": None},
        "control": {"listen": f"127.0.0.1:{free_port()}"},
    }
    path = workdir / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["PYTHONPATH"] = str(REPO)
    log = (workdir / "service.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen(
        [*command, "service", "--config", str(path)], stdout=log, stderr=log, env=env
    )
    first: float | None = None
    blocked: float | None = None
    try:
        deadline = started + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if first is None and answers(listen, timeout=0.05) is not None:
                first = time.monotonic() - started
            if first is not None:
                if bundle is None:
                    break
                got = resolve(listen, LISTED, timeout=0.2)
                if got is not None and got[0] == 3:
                    blocked = time.monotonic() - started
                    break
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
    return {"first_answer": first, "first_block": blocked}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="startup_bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--exe", type=Path, help="time the one-file program instead")
    parser.add_argument(
        "--installed", action="store_true", help="with --exe: time the program install lays out"
    )
    parser.add_argument("--entries", type=int, default=0, help="also time the first block")
    args = parser.parse_args(argv)
    if args.installed and not args.exe:
        parser.error("--installed needs --exe (the one-file program to install)")
    command = [str(args.exe)] if args.exe else [sys.executable, "-m", "kiosk_agent"]
    label = f"{args.exe.name} (one-file)" if args.exe else "python -m kiosk_agent"
    results: list[dict[str, float | None]] = []
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp, DemoUpstream() as up:
        if args.installed:
            command = [str(install_into_prefix(args.exe.resolve(), Path(tmp)))]
            label = (
                f"{args.exe.name} (installed, unpacked: {Path(command[0]).resolve().parent.name})"
            )
        bundle = build_feed(Path(tmp), args.entries) if args.entries else None
        run_dir = Path(tmp) / "kiosk"
        run_dir.mkdir()
        first = one_run(command, run_dir, up.address, bundle)
        for _ in range(args.runs):
            results.append(one_run(command, run_dir, up.address, bundle))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shown = {
        k: f"{v:.2f} s" if v is not None else "never"
        for k, v in first.items()
        if k != "first_block" or args.entries
    }
    print(f"{label}: first start (makes key pair and state): {shown}")
    ok = True
    for key, target in (("first_answer", 2.0), ("first_block", None)):
        values = [v for r in results if (v := r[key]) is not None]
        if key == "first_block" and not args.entries:
            continue
        if len(values) < len(results):
            missing = len(results) - len(values)
            print(f"{label}: restart {key}: {missing} of {len(results)} runs never got there")
            ok = False
        if values:
            line = (
                f"{label}: restart {key}: median {statistics.median(values):.2f} s, "
                f"max {max(values):.2f} s over {len(values)} runs"
            )
            if target is not None:
                met = max(values) <= target
                ok &= met
                line += f" (target <= {target:g} s: {'met' if met else 'NOT met'})"
            if args.entries:
                line += f", list of {args.entries:,} entries"
            print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
