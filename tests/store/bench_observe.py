"""Cost of one ``Store.observe`` against a local embedded Redis (not a test: prints numbers).

.venv/bin/python -m tests.store.bench_observe [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from antibot.detect.observation import Observation
from antibot.store.embedded import EmbeddedRedis
from antibot.store.redis import Store

from .resp import Resp


async def measure(url: str, calls: int, full: bool) -> list[float]:
    store = await Store.connect(url)
    try:
        now = time.time()
        samples: list[float] = []
        for i in range(calls + 200):
            obs = Observation(
                f"10.1.{i % 7}.{i % 251}",
                f"user{i % 13}" if full else "",
                f"+3361{i:06d}" if full else "",
                "+3361" if full else "",
                f"ua{i % 3}" if full else "",
            )
            start = time.perf_counter_ns()
            await store.observe(obs, now + i * 0.01)
            if i >= 200:  # warm-up excluded
                samples.append((time.perf_counter_ns() - start) / 1000)
        return samples
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as `antibot run` does")
    args = parser.parse_args()
    run = asyncio.run
    if args.uvloop:
        import uvloop

        run = uvloop.run
    with tempfile.TemporaryDirectory() as data_dir, EmbeddedRedis(data_dir) as url:
        rc = Resp(url.removeprefix("unix://"))
        loop = "uvloop" if args.uvloop else "asyncio"
        for label, full in (("5 entities (src, from, to, prefix, ua)", True), ("source only", False)):
            rc("CONFIG", "RESETSTAT")
            samples = sorted(run(measure(url, args.calls, full)))
            evalsha = dict(kv.split("=") for kv in rc.info("commandstats")["cmdstat_evalsha"].split(","))
            server = float(evalsha["usec"]) / (args.calls + 200)
            p99 = samples[int(len(samples) * 0.99)]
            print(
                f"observe ({loop}), {label}: median {statistics.median(samples):.0f} µs, p99 {p99:.0f} µs,"
                f" n={len(samples)}; Redis CPU in EVALSHA {server:.0f} µs/observe"
            )


if __name__ == "__main__":
    main()
