"""Batch inference next to the online runtime on the same UP-v2 model, in the same run (J2, ADR 0016).

    uv run python bench/batch_inference.py                      # 10,000 users, 10,000-item model
    uv run python bench/batch_inference.py --batch-users 2000   # quicker
    uv run python bench/batch_inference.py --model .tailor/bench-cache/runtime-upv2-10000u-10000i-s7-<hash>
    TAILOR_REDIS_PORT=6391 uv run python bench/batch_inference.py ...  # a private redis-server on 6391

The Redis CPU columns are the server's whole CPU while each side runs: on a Redis that other processes use,
run a private one (as above) or they count the others' work.

--model serves an existing model directory (one runtime_latency.py cached for the same --users, --items and
--seed) instead of the one keyed by the trainer's current code hash: the trainer's code changes often and a
10,000-user retraining takes about half an hour on a busy 2-core machine.

The world is bench/runtime_latency.py's (control, ingest, stream, runtime; a synthetic 10,000-item catalogue,
a UP-v2 model trained by the trainer's code and cached, a campaign on it), plus a batch worker process. Then:

* **online**: GetRecommendations (userId, numResults 25) for the same users, closed-loop at concurrency C over
  gRPC, for --seconds; the runtime's and Redis's CPU seconds read around the run.
* **batch**: one batch inference job over a JSON-lines file of the same users (numResults 25); the batch
  process's and Redis's CPU seconds read around the job, wall time from CreateBatchInferenceJob to ACTIVE.

"Per core" is recommendations (lists of 25) per CPU-second of the serving process plus Redis: unlike wall time
it doesn't depend on the other processes sharing the machine. The goal: batch >= 5x online.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import runtime_latency
from harness import peak_rss_mib, redis_cpu, start_service
from runtime_latency import build_world, cleanup, drive, tempfile_dir

from tailor.runtime.v1 import runtime_pb2
from tailor_tools import localstack
from tailor_tools.client import Client

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
NUM_RESULTS = 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000, help="users in the synthetic data (and the model)")
    parser.add_argument("--batch-users", type=int, default=10_000, help="lines of the batch job")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds of online load")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--model", type=Path, help="an existing model directory of the same data (see above)")
    parser.add_argument("--rounds", type=int, default=1, help="online and batch measured alternately, N times")
    args = parser.parse_args()
    if args.model is not None:
        if not (args.model / "manifest.json").exists():
            raise SystemExit(f"{args.model} is not a model directory (no manifest.json)")
        model_dir: Path = args.model
        runtime_latency.trained_model = lambda data, cache: model_dir

    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    workdir = Path(tempfile_dir())
    t0 = time.monotonic()
    world = build_world(stack, args, workdir)
    rcli = redis.Redis.from_url(stack.redis_url)
    control = Client(world.services["control"].address, "control")
    try:
        users = [str(u["USER_ID"]) for u in world.data.users[: args.batch_users]]
        # --- online and batch, alternately -------------------------------------------------------------------
        runtime = world.services["runtime"]
        reqs = [
            runtime_pb2.GetRecommendationsRequest(campaign_arn=world.campaign, user_id=u, num_results=NUM_RESULTS)
            for u in users
        ]

        def measure() -> tuple[float, float]:
            return runtime.cpu(), redis_cpu(rcli.info("cpu"))

        batch = start_service("batch", world.env, workdir)
        version = control.call("DescribeCampaign", campaignArn=world.campaign)["campaign"]["solutionVersionArn"]
        folder = workdir / "batch-in"
        folder.mkdir()
        (folder / "users.json").write_text("".join(json.dumps({"userId": u}) + "\n" for u in users))
        time.sleep(3.0)  # the worker joins its consumer group
        online: list[tuple[float, float, float, float, int]] = []  # rps, server us, redis us, per core, errors
        offline: list[tuple[float, float, float, float]] = []  # wall s, server us, redis us, per core
        for round_ in range(args.rounds):
            n, errors, elapsed, _lat, s_us, r_us, _c_us = asyncio.run(
                drive(runtime.address, reqs, args.concurrency, args.seconds, args.warmup, args.channels, measure)
            )
            online.append((n / elapsed, s_us, r_us, 1e6 / (s_us + r_us), errors))
            cpu0, redis0 = batch.cpu(), redis_cpu(rcli.info("cpu"))
            started = time.monotonic()
            arn = control.call(
                "CreateBatchInferenceJob",
                jobName=f"bench-{uuid.uuid4().hex[:6]}",
                solutionVersionArn=version,
                numResults=NUM_RESULTS,
                jobInput={"s3DataSource": {"path": folder.as_uri() + "/"}},
                jobOutput={"s3DataDestination": {"path": (workdir / f"batch-out-{round_}").as_uri() + "/"}},
                roleArn=ROLE,
            )["batchInferenceJobArn"]
            outcomes = ("ACTIVE", "CREATE FAILED")
            job = control.wait_for(
                "DescribeBatchInferenceJob", "batchInferenceJob", outcomes, 1800, batchInferenceJobArn=arn
            )
            wall = time.monotonic() - started
            cpu = batch.cpu() - cpu0
            rcpu = redis_cpu(rcli.info("cpu")) - redis0
            if job["status"] != "ACTIVE":
                raise SystemExit(f"the batch job failed: {job.get('failureReason')}")
            lines = (workdir / f"batch-out-{round_}" / "users.json.out").read_text().splitlines()
            assert len(lines) == len(users) and all('"error"' not in line[:80] for line in lines)
            offline.append((wall, cpu / len(users) * 1e6, rcpu / len(users) * 1e6, len(users) / (cpu + rcpu)))
            print(f"round {round_ + 1}: online {online[-1][3]:,.0f}, batch {offline[-1][3]:,.0f} recs/CPU-s")
        peak_mib = peak_rss_mib(batch.proc.pid)
        batch.stop()
        print()
        print(
            f"UP-v2, {args.items:,}-item catalogue, numResults {NUM_RESULTS}, {len(users):,} users, "
            f"{os.cpu_count()} CPUs, {args.rounds} rounds (median, worst); load average {os.getloadavg()[0]:.2f}"
        )
        print()
        print("| path | recommendations/s (wall) | server CPU µs/rec | Redis CPU µs/rec | recs per CPU-second |")
        print("|---|---:|---:|---:|---:|")
        errors = sum(o[4] for o in online)
        print(
            f"| online GetRecommendations, c={args.concurrency} (errors {errors}) | {_mw(online, 0, low=True)} | "
            f"{_mw(online, 1)} | {_mw(online, 2)} | {_mw(online, 3, low=True)} |"
        )
        walls = [o[0] for o in offline]
        print(
            f"| batch inference job ({statistics.median(walls):.1f} s create → ACTIVE, median) | "
            f"{statistics.median(len(users) / w for w in walls):,.0f} ({len(users) / max(walls):,.0f}) | "
            f"{_mw(offline, 1)} | {_mw(offline, 2)} | {_mw(offline, 3, low=True)} |"
        )
        print()
        ratios = [b[3] / o[3] for o, b in zip(online, offline, strict=True)]
        print(
            f"batch / online per core: {statistics.median(ratios):.1f}x median, per round "
            f"{', '.join(f'{r:.1f}x' for r in ratios)} (goal >= 5x)"
        )
        if peak_mib:
            print(f"batch worker peak RSS: {peak_mib:.0f} MiB")
        print(f"\ntotal {time.monotonic() - t0:.0f}s")
    finally:
        control.close()
        rcli.close()
        for svc in world.services.values():
            svc.stop()
        cleanup(world)


def _mw(rows: list[Any], column: int, low: bool = False) -> str:
    """Median and worst (lowest for rates, highest for costs) of one column over the rounds."""
    values = [float(r[column]) for r in rows]
    worst = min(values) if low else max(values)
    return f"{statistics.median(values):,.0f} ({worst:,.0f})"


if __name__ == "__main__":
    main()
