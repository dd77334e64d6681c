"""Next-Best-Action: offline quality next to the popularity-of-actions baseline, and GetActionRecommendations'
latency and throughput next to GetRecommendations on the same runtime process, in one run.

    uv run python bench/next_best_action.py                       # both parts (about 8 minutes)
    uv run python bench/next_best_action.py --skip-online         # offline quality only
    uv run python bench/run_all.py --only nba

Offline: ``tailor_tools.synthetic_actions`` (users with known propensities per action) for several seeds; the
trainer's ``train_next_best_action`` on all users but 15 % held out; per seed the guide's metrics (precision,
recall, AUC on the test users' newest action interactions) of the model and of the baseline (each action's take
rate), and — because the truth is known — the true propensity of the action each ranks first for the held-out
users (their item history and Users row only), against the best possible.

Online: control, ingest, stream, trainer and runtime processes under a unique topic prefix; the same synthetic
data imported from CSV into the five datasets; aws-next-best-action and aws-user-personalization-v2 trained by
the real trainer and deployed as campaigns. A grpc.aio closed loop (C concurrent calls over 4 channels) alternates
the two APIs over the same users, several rounds each; latency is measured by the client, CPU per request from
/proc of the runtime process and Redis' INFO.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import redis
from harness import pct, redis_cpu, start_service, wait_serving

from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from tailor_shared.scoring.actions import UserActivity
from tailor_tools import localstack, synthetic, synthetic_actions
from tailor_tools.client import Client, aio_channel
from tailor_trainer.domain.actions import BASELINE, METRIC_NAMES, tables_from_rows, train_next_best_action

ARN = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
HELD_OUT = 0.15


# --- offline -------------------------------------------------------------------------------------------------
def offline(seeds: Sequence[int], users: int) -> str:
    rows: list[dict[str, float]] = []
    for seed in seeds:
        data = synthetic_actions.generate(n_users=users, n_items=300, seed=seed)
        held = {str(u["USER_ID"]) for u in data.base.users[-int(HELD_OUT * users) :]}
        kept = [r for r in data.action_interactions if r["USER_ID"] not in held]
        t = tables_from_rows(data.base.interactions, data.actions, kept, data.base.items, data.base.users)
        started = time.perf_counter()
        model = train_next_best_action(
            ARN + "aws-next-best-action", t.interactions, t.items, t.actions, t.action_interactions, t.users, {}, seed
        )
        seconds = time.perf_counter() - started
        ids = list(model.features.action_ids)
        ok = np.array([a != data.unshown and a != data.expired for a in ids])
        popular = ids[int(np.argmax(np.where(ok, model.taken, -1)))]
        top, base, best = [], [], []
        segments = {str(u["USER_ID"]): str(u["SEGMENT"]) for u in data.base.users}
        history: dict[str, dict[str, float]] = {}
        for r in data.base.interactions:
            if r["USER_ID"] in held:
                h = history.setdefault(str(r["USER_ID"]), {})
                h[str(r["ITEM_ID"])] = h.get(str(r["ITEM_ID"]), 0.0) + 1
        for user in sorted(held):
            activity = UserActivity([], history.get(user, {}), {"SEGMENT": segments[user]})
            p = model.weights.propensity(model.features.vector(activity)[None, :])[0]
            truth = np.array([data.propensity(user, a) for a in ids])
            top.append(truth[int(np.argmax(np.where(ok, p, -1.0)))])
            base.append(data.propensity(user, popular))
            best.append(truth[ok].max())
        row = {f"model {m}": model.metrics[m] for m in METRIC_NAMES}
        row |= {f"baseline {m}": model.baselines[BASELINE][m] for m in METRIC_NAMES}
        row |= {
            "model top-1 true propensity": float(np.mean(top)),
            "baseline top-1 true propensity": float(np.mean(base)),
            "best top-1 true propensity": float(np.mean(best)),
            "training s": seconds,
        }
        rows.append(row)
    names = ["precision", "recall", "area_under_the_curve", "top-1 true propensity"]
    out = [
        f"Offline ({len(seeds)} seeds of `synthetic_actions.generate(n_users={users}, n_items=300)`, "
        f"{int(HELD_OUT * 100)} % of users held out for the top-1 column; medians, min-max in brackets):",
        "",
        "| metric | model | popularity-of-actions baseline |",
        "|---|---|---|",
    ]
    for n in names:
        m = [r[f"model {n}"] for r in rows]
        b = [r[f"baseline {n}"] for r in rows]
        out.append(f"| {n} | {_fmt(m)} | {_fmt(b)} |")
    best = [r["best top-1 true propensity"] for r in rows]
    out.append(f"| (best possible top-1 true propensity) | {_fmt(best)} | |")
    out.append(f"| training seconds | {_fmt([r['training s'] for r in rows], 1)} | |")
    return "\n".join(out)


def _fmt(values: Sequence[float], digits: int = 3) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


# --- online --------------------------------------------------------------------------------------------------
def build(stack: localstack.StackConfig, workdir: Path, users: int, prefix: str, started: list[Any]) -> dict[str, Any]:
    """The world under ``prefix``; every service started is appended to ``started`` (the caller stops them)."""
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(workdir / "models"),
        "TAILOR_STREAM_DATA_DIR": str(workdir / "stream"),
    }
    services = {}
    for n in ("control", "ingest", "stream", "trainer", "runtime"):
        services[n] = start_service(n, env, workdir)
        started.append(services[n])
    for svc in services.values():
        wait_serving(svc)
    control = Client(services["control"].address, "control")
    data = synthetic_actions.generate(n_users=users, n_items=300, seed=3)
    name = f"bench-nba-{uuid.uuid4().hex[:6]}"
    group = control.call("CreateDatasetGroup", name=name)["datasetGroupArn"]
    control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
    kinds = {
        "Interactions": (synthetic.INTERACTIONS_SCHEMA, data.base.interactions),
        "Items": (synthetic.ITEMS_SCHEMA, data.base.items),
        "Users": (synthetic.USERS_SCHEMA, data.base.users),
        "Actions": (synthetic_actions.ACTIONS_SCHEMA, data.actions),
        "Action_Interactions": (synthetic_actions.ACTION_INTERACTIONS_SCHEMA, data.action_interactions),
    }
    for kind, (schema, rows) in kinds.items():
        short = kind.lower().replace("_", "-")
        schema_arn = control.call("CreateSchema", name=f"{name}-{short}", schema=json.dumps(schema))["schemaArn"]
        dataset = control.call(
            "CreateDataset", name=f"{name}-{short}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
        )["datasetArn"]
        control.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
        path = workdir / f"{short}.csv"
        path.write_text(synthetic.to_csv(rows))
        job = control.call(
            "CreateDatasetImportJob",
            jobName=f"{name}-{short}",
            datasetArn=dataset,
            dataSource={"dataLocation": path.as_uri()},
            roleArn=ROLE,
        )["datasetImportJobArn"]
        control.wait_for("DescribeDatasetImportJob", "datasetImportJob", timeout=300, datasetImportJobArn=job)
    campaigns: dict[str, str] = {}
    for short, recipe in (("nba", "aws-next-best-action"), ("up", "aws-user-personalization-v2")):
        solution = control.call(
            "CreateSolution", name=f"{name}-{short}", recipeArn=ARN + recipe, datasetGroupArn=group,
            performAutoTraining=False,
        )["solutionArn"]  # fmt: skip
        control.wait_for("DescribeSolution", "solution", solutionArn=solution)
        version = control.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
        control.wait_for("DescribeSolutionVersion", "solutionVersion", timeout=900, solutionVersionArn=version)
        campaigns[short] = control.call("CreateCampaign", name=f"{name}-{short}", solutionVersionArn=version)[
            "campaignArn"
        ]
        control.wait_for("DescribeCampaign", "campaign", timeout=120, campaignArn=campaigns[short])
    control.close()
    return {"campaigns": campaigns, "users": [str(u["USER_ID"]) for u in data.base.users]}


async def closed_loop(
    address: str, calls: Sequence[Callable[[Any], Any]], concurrency: int, seconds: float
) -> tuple[int, float, list[float]]:
    channels = [aio_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(4)]
    stubs = [runtime_pb2_grpc.PersonalizeRuntimeStub(c) for c in channels]
    latencies: list[float] = []
    state = {"stop": False, "record": False}

    async def loop(i: int) -> None:
        n = i * 7919
        stub = stubs[i % len(stubs)]
        while not state["stop"]:
            t = time.perf_counter()
            await calls[n % len(calls)](stub)
            n += 1
            if state["record"]:
                latencies.append(time.perf_counter() - t)

    tasks = [asyncio.create_task(loop(i)) for i in range(concurrency)]
    await asyncio.sleep(1.0)
    state["record"] = True
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    state["record"] = False
    elapsed = time.perf_counter() - t0
    state["stop"] = True
    await asyncio.gather(*tasks)
    for c in channels:
        await c.close()
    return len(latencies), elapsed, latencies


def online(args: argparse.Namespace) -> str:
    stack = localstack.StackConfig.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="bench-nba-"))
    prefix = f"bench-nba-{uuid.uuid4().hex[:8]}"
    services: list[Any] = []
    r = redis.Redis.from_url(stack.redis_url)
    try:
        world = build(stack, workdir, args.users, prefix, services)
        return _measure(args, world, next(s for s in services if s.name == "runtime"), r)
    finally:
        r.close()
        for svc in services:
            svc.stop()
        localstack.purge_prefix(stack, prefix)


def _measure(args: argparse.Namespace, world: dict[str, Any], runtime: Any, r: redis.Redis[bytes]) -> str:
    users = world["users"][:200]
    nba, up = world["campaigns"]["nba"], world["campaigns"]["up"]

    def action_call(user: str) -> Callable[[Any], Any]:
        req = runtime_pb2.GetActionRecommendationsRequest(campaign_arn=nba, user_id=user, num_results=5)
        return lambda stub: stub.GetActionRecommendations(req)

    def item_call(user: str) -> Callable[[Any], Any]:
        req = runtime_pb2.GetRecommendationsRequest(campaign_arn=up, user_id=user, num_results=25)
        return lambda stub: stub.GetRecommendations(req)

    scenarios = {
        "GetActionRecommendations (NBA, numResults 5)": [action_call(u) for u in users],
        "GetRecommendations (UP-v2, numResults 25)": [item_call(u) for u in users],
    }
    results: dict[str, list[dict[str, float]]] = {k: [] for k in scenarios}
    for _round in range(args.rounds):
        for label, calls in scenarios.items():
            cpu0, redis0 = runtime.cpu(), redis_cpu(r.info("cpu"))
            n, elapsed, lat = asyncio.run(closed_loop(runtime.address, calls, args.concurrency, args.seconds))
            cpu1, redis1 = runtime.cpu(), redis_cpu(r.info("cpu"))
            results[label].append(
                {
                    "p50": pct(lat, 0.5) * 1e3,
                    "p99": pct(lat, 0.99) * 1e3,
                    "rps": n / elapsed,
                    "cpu": (cpu1 - cpu0) / max(n, 1) * 1e6,
                    "redis": (redis1 - redis0) / max(n, 1) * 1e6,
                }
            )
    out = [
        f"Online (one runtime process, {args.users} users, 12 actions, 300 items; concurrency {args.concurrency}, "
        f"{args.rounds} rounds of {args.seconds:.0f} s per API, alternating; medians over rounds, min-max in "
        "brackets):",
        "",
        "| API | p50 ms | p99 ms | requests/s | runtime CPU µs/request | Redis CPU µs/request |",
        "|---|---|---|---|---|---|",
    ]
    for label, rows in results.items():
        cols = [
            _fmt([row[k] for row in rows], 2 if k in ("p50", "p99") else 0)
            for k in ("p50", "p99", "rps", "cpu", "redis")
        ]
        out.append(f"| {label} | " + " | ".join(cols) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="3,5,7")
    parser.add_argument("--offline-users", type=int, default=600)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-online", action="store_true")
    args = parser.parse_args()
    print(offline([int(s) for s in args.seeds.split(",")], args.offline_users))
    if not args.skip_online:
        print()
        print(online(args))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
