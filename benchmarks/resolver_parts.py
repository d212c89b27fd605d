"""Parts of the resolver measured one at a time (what resolver_bench measures whole).

`python -m benchmarks.resolver_parts {answer,burst,ready} [--names 1000000]`

- ``answer``: the whole service started in this process; ``DnsServer.answer`` timed on
  100,000 random listed names (best of six rounds, process CPU time per answer);
- ``burst``: the chain and server alone (``build_chain`` + ``DnsServer``, no other service
  part) in a child pinned to CPU 0, once per ``--batches`` value of ``server.SEND_BATCH``
  (answers held back per wake-up; 1 sends each answer at once), under dnsperf's blocked
  run: answers/s and CPU per answer;
- ``ready``: ``kiosk-agent service`` started ``--restarts`` times with the 1M-name index in
  its state folder; seconds from process start to the first blocked answer.

Loopback only; the upstream is a dnsmasq with local records, as in resolver_bench.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import resolver_bench as rb
from kiosk_agent.net.ports import free_port

# The child of ``burst``: the chain and server alone, SEND_BATCH set from argv.
CHAIN_SERVER = """
import asyncio, sys
from pathlib import Path
from kiosk_agent.config import HostPort, parse_config
from kiosk_agent.filter.index import IndexHolder
from kiosk_agent.filter.resolver import server
from kiosk_agent.filter.resolver.chain import build_chain
from kiosk_agent.reporting.events import EventBus
state, port, up, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
server.SEND_BATCH = batch
cfg = parse_config(f"state_dir: {state}\\n")
holder = IndexHolder.open_dir(state / "index")
async def main():
    chain = build_chain(cfg.filter, [HostPort("127.0.0.1", up)], lambda: holder, EventBus())
    srv = server.DnsServer(chain.head, [HostPort("127.0.0.1", port)])
    await srv.start()
    await asyncio.Event().wait()
asyncio.run(main())
"""


def blocked_file(tmp: Path, names: int) -> Path:
    rng = random.Random(7)
    path = tmp / "blocked.txt"
    path.write_text("".join(f"n{rng.randrange(names)}.blocked.test A\n" for _ in range(100_000)))
    return path


def measure_answer(state: Path, names: int) -> dict[str, float]:
    from kiosk_agent.config import parse_config
    from kiosk_agent.filter.resolver.component import ResolverComponent
    from kiosk_agent.service.wiring import create_service

    config = parse_config(
        f"state_dir: {state}\n"
        f"filter:\n  listen: ['127.0.0.1:{free_port()}']\n  upstreams: ['127.0.0.1:9']\n"
        f"control:\n  listen: '127.0.0.1:{free_port()}'\n"
    )

    async def run() -> list[float]:
        service = create_service(config)
        task = asyncio.create_task(service.run())
        resolver = service.ctx.components["resolver"]
        assert isinstance(resolver, ResolverComponent)
        while resolver.server is None or resolver.current_index() is None:
            await asyncio.sleep(0.02)
        rng = random.Random(1)
        per_answer = []
        for _ in range(6):
            packets = [
                rb.query(f"n{rng.randrange(names)}.blocked.test", i & 0xFFFF)
                for i in range(100_000)
            ]
            start = time.process_time()
            for packet in packets:
                resolver.server.answer(packet)
            per_answer.append((time.process_time() - start) / len(packets))
        service.request_stop()
        await task
        return per_answer

    rounds = asyncio.run(run())
    return {
        "best_us": round(min(rounds) * 1e6, 1),
        "median_us": round(statistics.median(rounds) * 1e6, 1),
    }


def measure_burst(
    tmp: Path, state: Path, names: int, batches: Sequence[int], seconds: float
) -> list[dict[str, float]]:
    data = blocked_file(tmp, names)
    up = free_port()
    upstream = rb.start_dnsmasq(tmp, "upstream", up, ["cache-size=0", "local-ttl=300"])
    out = []
    try:
        for batch in batches:
            port = free_port()
            argv = ["taskset", "-c", "0", sys.executable, "-c", CHAIN_SERVER]
            child = subprocess.Popen(
                [*argv, str(state), str(port), str(up), str(batch)],
                env=dict(os.environ, PYTHONPATH=str(rb.REPO)),
            )
            try:
                rb.wait_ready(port, "n0.blocked.test", time.monotonic())
                for _ in range(2):
                    result = rb.dnsperf(port, data, seconds, child.pid)
                    out.append({"send_batch": batch, **result})
            finally:
                child.send_signal(signal.SIGTERM)
                child.wait(10)
    finally:
        upstream.send_signal(signal.SIGTERM)
        upstream.wait(10)
    return out


def measure_ready(tmp: Path, state: Path, restarts: int) -> dict[str, object]:
    times = []
    for _ in range(restarts):
        port = free_port()
        start = time.monotonic()
        agent = rb.start_agent(tmp, state, port, free_port())
        try:
            times.append(rb.wait_ready(port, "n0.blocked.test", start))
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(15)
        time.sleep(0.5)
    return {
        "seconds": [round(t, 3) for t in times],
        "median": round(statistics.median(times), 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "part", nargs="?", choices=("answer", "burst", "ready", "all"), default="all"
    )
    parser.add_argument("--names", type=int, default=1_000_000, help="list size (1M)")
    parser.add_argument("--batches", default="1,16,32,64", help="SEND_BATCH values for burst")
    parser.add_argument("--seconds", type=float, default=4, help="each dnsperf run (4)")
    parser.add_argument("--restarts", type=int, default=9, help="starts for ready (9)")
    args = parser.parse_args(argv)
    results: dict[str, object] = {
        "utc": time.strftime("%H:%M:%S", time.gmtime()),
        "load": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="resolver-parts-") as name:
        tmp = Path(name)
        state, _hosts = rb.build_list(tmp, args.names)
        if args.part in ("answer", "all"):
            results["answer_blocked"] = measure_answer(state, args.names)
        if args.part in ("burst", "all"):
            rb.tool("dnsperf")
            batches = [int(b) for b in args.batches.split(",")]
            results["burst"] = measure_burst(tmp, state, args.names, batches, args.seconds)
        if args.part in ("ready", "all"):
            results["ready"] = measure_ready(tmp, state, args.restarts)
    results["load_after"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
