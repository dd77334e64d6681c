"""Scale-out on the multi-node stack (ADR 0025): stream workers 1 -> 2 -> 3 and runtime processes 1 -> 2.

Starts its own three-node Kafka cluster and Redis primary/replica/Sentinels (``tailor_tools.cluster`` on free
ports under a temporary directory; topics RF 3, min.insync.replicas 2) and measures, with the single-node
benchmarks' own code so the numbers compare:

* **stream**: a backlog of interactions produced to the cluster, then 1, 2 or 3 worker processes
  (``stream_throughput.throughput``): events/s from the first applied batch to the last, and worker + Redis CPU
  microseconds per event;
* **runtime**: GetRecommendations (plain, numResults 25) closed-loop at concurrency C against 1 or 2 runtime
  processes on one port (``TAILOR_RUNTIME_WORKERS``; ``runtime_latency.build_world`` / ``run_cell``): req/s,
  p50/p99 and server + Redis CPU microseconds per request.

Each cell runs ``--repeats`` times; medians (and the spread) are printed. CPU per event / per request does not
depend much on what else the machine runs, so it projects the curve onto a machine with more cores (events/s
per core = 1e6 / CPU us per event).

    uv run python bench/cluster_scale.py [--events 20000] [--repeats 3] [--items 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import harness
import runtime_latency
import stream_throughput

from tailor_tools import cluster, localstack


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="stream backlog per run")
    parser.add_argument("--stream-workers", default="1,2,3")
    parser.add_argument("--runtime-workers", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per runtime cell")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tailor-bench-cluster-"))
    cfg = cluster.free_config(workdir / "cluster", localstack.StackConfig.from_env().kafka_libs)
    world: runtime_latency.World | None = None
    t0 = time.monotonic()
    try:
        cluster.up(cfg)
        # Topics created from here (by this process and the services it starts) are replicated as on a cluster.
        os.environ.update({k: v for k, v in cluster.service_env(cfg).items() if k.startswith("TAILOR_TOPIC_")})
        # The benchmarks' own Redis reads go to the primary directly; the services find it the same way.
        stack = cast(
            localstack.StackConfig,
            SimpleNamespace(
                kafka_bootstrap=cfg.kafka_bootstrap,
                redis_url=f"redis://127.0.0.1:{cluster.redis_primary_port(cfg)}/0",
            ),
        )
        print(f"cluster up in {time.monotonic() - t0:.0f}s; load average {os.getloadavg()[0]:.1f}", flush=True)

        stream_rows: dict[int, list[Any]] = {}
        for workers in [int(w) for w in args.stream_workers.split(",")]:
            for _ in range(args.repeats):
                row = asyncio.run(
                    stream_throughput.throughput(
                        stack, workdir, args.events, workers, time.monotonic() + 600, uniform=False
                    )
                )
                stream_rows.setdefault(workers, []).append(row)
                print(f"  stream w={workers}: {row.rate:8.0f} events/s, {row.worker_cpu_us:6.0f} us/event", flush=True)

        rt_args = argparse.Namespace(
            items=args.items,
            users=args.users,
            seed=7,
            seconds=args.seconds,
            warmup=1.0,
            channels=4,
            samples=0,
        )
        world = runtime_latency.build_world(stack, rt_args, workdir)
        runtime_rows: dict[int, list[runtime_latency.Result]] = {}
        for workers in [int(w) for w in args.runtime_workers.split(",")]:
            world.services["runtime"].stop()
            world.services["runtime"] = harness.start_service(
                "runtime", world.env, workdir, tag=f"-w{workers}", TAILOR_RUNTIME_WORKERS=str(workers)
            )
            harness.wait_serving(world.services["runtime"])
            time.sleep(2.0)
            runtime = world.services["runtime"]
            for _ in range(args.repeats):
                runtime_rows.setdefault(workers, []).append(
                    runtime_latency.run_cell(
                        world, "runtime", workers, runtime.address, runtime.cpu, "plain", args.concurrency, rt_args
                    )
                )
    finally:
        if world is not None:
            for svc in world.services.values():
                svc.stop()
        cluster.down(cfg)
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\nOn the 3-node cluster (RF 3, min ISR 2), {os.cpu_count()} CPUs, {args.repeats} runs per cell, median "
        f"(min-max); load average at the end {os.getloadavg()[0]:.1f}\n"
    )
    print("| stream workers | events/s | worker CPU us/event | Redis CPU us/event |")
    print("|---:|---:|---:|---:|")
    for workers, rows in stream_rows.items():
        print(
            f"| {workers} | {_spread([r.rate for r in rows])} | {_spread([r.worker_cpu_us for r in rows])} | "
            f"{_spread([r.redis_cpu_us for r in rows])} |"
        )
    cols = "p50 ms | p99 ms | server CPU us/req | Redis CPU us/req"
    print(f"\n| runtime processes | req/s (c={args.concurrency}) | {cols} |")
    print("|---:|---:|---:|---:|---:|---:|")
    for workers, results in runtime_rows.items():
        p50 = [1e3 * harness.pct(r.latencies, 0.5) for r in results]
        p99 = [1e3 * harness.pct(r.latencies, 0.99) for r in results]
        print(
            f"| {workers} | {_spread([r.rps for r in results])} | {statistics.median(p50):.1f} | "
            f"{statistics.median(p99):.1f} ({min(p99):.1f}-{max(p99):.1f}) | "
            f"{_spread([r.server_cpu_us for r in results])} | {_spread([r.redis_cpu_us for r in results])} |"
        )
    print(f"\ntotal {time.monotonic() - t0:.0f}s")


if __name__ == "__main__":
    main()
