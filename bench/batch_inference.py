"""Batch inference next to the online runtime on the same UP-v2 model, in the same run (J2, ADR 0016).

    uv run python bench/batch_inference.py                      # 10,000 users, 10,000-item model
    uv run python bench/batch_inference.py --batch-users 2000   # quicker

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
import time
import uuid
from pathlib import Path

import redis
from harness import redis_cpu, start_service
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
    args = parser.parse_args()

    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    workdir = Path(tempfile_dir())
    t0 = time.monotonic()
    world = build_world(stack, args, workdir)
    rcli = redis.Redis.from_url(stack.redis_url)
    control = Client(world.services["control"].address, "control")
    try:
        users = [str(u["USER_ID"]) for u in world.data.users[: args.batch_users]]
        # --- online -----------------------------------------------------------------------------------------
        runtime = world.services["runtime"]
        reqs = [
            runtime_pb2.GetRecommendationsRequest(campaign_arn=world.campaign, user_id=u, num_results=NUM_RESULTS)
            for u in users
        ]

        def measure() -> tuple[float, float]:
            return runtime.cpu(), redis_cpu(rcli.info("cpu"))

        n, errors, elapsed, _lat, s_us, r_us, _c_us = asyncio.run(
            drive(runtime.address, reqs, args.concurrency, args.seconds, args.warmup, args.channels, measure)
        )
        online_rps = n / elapsed
        online_per_core = 1e6 / (s_us + r_us)
        # --- batch ------------------------------------------------------------------------------------------
        batch = start_service("batch", world.env, workdir)
        version = control.call("DescribeCampaign", campaignArn=world.campaign)["campaign"]["solutionVersionArn"]
        folder = workdir / "batch-in"
        folder.mkdir()
        (folder / "users.json").write_text("".join(json.dumps({"userId": u}) + "\n" for u in users))
        time.sleep(3.0)  # the worker joins its consumer group
        cpu0, redis0 = batch.cpu(), redis_cpu(rcli.info("cpu"))
        started = time.monotonic()
        arn = control.call(
            "CreateBatchInferenceJob",
            jobName=f"bench-{uuid.uuid4().hex[:6]}",
            solutionVersionArn=version,
            numResults=NUM_RESULTS,
            jobInput={"s3DataSource": {"path": folder.as_uri() + "/"}},
            jobOutput={"s3DataDestination": {"path": (workdir / "batch-out").as_uri() + "/"}},
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
        lines = (workdir / "batch-out" / "users.json.out").read_text().splitlines()
        assert len(lines) == len(users) and all('"error"' not in line[:80] for line in lines)
        peak_mib = _peak_rss_mib(batch.proc.pid)
        batch.stop()
        batch_per_core = len(users) / (cpu + rcpu)
        print()
        print(
            f"UP-v2, {args.items:,}-item catalogue, numResults {NUM_RESULTS}, {len(users):,} users, "
            f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}"
        )
        print()
        print("| path | recommendations/s (wall) | server CPU µs/rec | Redis CPU µs/rec | recs per CPU-second |")
        print("|---|---:|---:|---:|---:|")
        print(
            f"| online GetRecommendations, c={args.concurrency} (errors {errors}) | {online_rps:,.0f} | "
            f"{s_us:,.0f} | {r_us:,.0f} | {online_per_core:,.0f} |"
        )
        print(
            f"| batch inference job ({wall:.1f} s create → ACTIVE) | {len(users) / wall:,.0f} | "
            f"{cpu / len(users) * 1e6:,.0f} | {rcpu / len(users) * 1e6:,.0f} | {batch_per_core:,.0f} |"
        )
        print()
        print(f"batch / online per core: {batch_per_core / online_per_core:.1f}x (goal >= 5x)")
        if peak_mib:
            print(f"batch worker peak RSS: {peak_mib:.0f} MiB")
        print(f"\ntotal {time.monotonic() - t0:.0f}s")
    finally:
        control.close()
        rcli.close()
        for svc in world.services.values():
            svc.stop()
        cleanup(world)


def _peak_rss_mib(pid: int) -> float:
    """VmHWM of a live process (Linux), else 0."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    main()
