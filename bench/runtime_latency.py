"""Runtime latency and throughput: GetRecommendations on a 10,000-item catalogue, next to the physical limit.

Loopback only, on the local stack (``uv run tailor local up``); bounded in time (about 5 minutes; the first run
also trains the model, about a minute, then it is cached under ``.tailor/bench-cache/``). Everything shares
the machine: runtime, Redis, Kafka, the stream worker and the load client.

    uv run python bench/runtime_latency.py                          # the full table
    uv run python bench/runtime_latency.py --seconds 2 --workers 1  # quicker

What runs, under a unique topic prefix:

* control, ingest, stream and runtime processes; a dataset group with a synthetic catalogue
  (``tailor_tools.synthetic``: 10,000 items with CATEGORY/PRICE/CREATION_TIMESTAMP, 1,000 users) imported
  from CSV. The UP-v2 model is trained in this process with the trainer's own code
  (``train_solution_version`` + ``artifacts.export``) for one epoch — serving cost depends on the graph and
  the catalogue, not on how long it trained — copied into the model store as the solution version's model,
  and reported ACTIVE on the job-status topic exactly as the trainer reports it. CreateCampaign then goes
  through the normal path: the runtime loads the model and reports the campaign ACTIVE.
* 300 users get 10 real-time events each (PutEvents), so the model reads a real history per request.
* Load: a grpc.aio client with C concurrent tasks over 4 connections, for each scenario:
  ``plain`` (userId, numResults 25), ``filter`` (an Items + Interactions filter with a parameter:
  ``EXCLUDE purchased | INCLUDE Items.CATEGORY IN ($CATEGORIES)``), ``filter+promo`` (the same plus a
  promotion of 20 % over ``Items.CREATION_TIMESTAMP > $DATE``). Latency is measured by the client.
* The physical limit, same client, same response size: a bare grpc.aio server answering a prebuilt
  25-item response (``echo``); the same plus the runtime's one pipelined Redis read of the user's state
  (``+redis``); plus the ONNX call on the user's history (``+redis+onnx``).
* TAILOR_RUNTIME_WORKERS=1 and 2 (the baselines with as many processes).
* Freshness: PutEvents for a fresh user, then GetRecommendations every 5 ms until the list changes (from
  the start of the PutEvents call), idle and under a concurrency-16 load.

CPU columns are CPU microseconds per request of the server processes, of Redis (``INFO cpu``), of the load client,
of the Kafka broker (when this benchmark's stack has its pid file) and of the stream worker, read from /proc around
each run, and their sum (``all``): the runtime's impression records cost the broker and the stream too, and on a
machine the load fills, throughput follows the CPU per request of every process (ADR 0019 §12). The broker's
column counts whatever else uses the broker meanwhile (a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import redis
from harness import Proc, install_model, pct, proc_cpu, redis_cpu, start_service, wait_serving

from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from tailor_shared import storage
from tailor_shared.redis_keys import Keys
from tailor_tools import identity, localstack, synthetic
from tailor_tools.client import Client, aio_channel, channel
from tailor_tools.ports import free_port

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
NOT_PURCHASED = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
FILTER = f"{NOT_PURCHASED} | INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORIES)"
PROMO = "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > $DATE"
FILTER_EVENT_TYPES = ("purchase",)
NUM_RESULTS = 25
HISTORY_USERS = 300
ROOT = Path(__file__).resolve().parent.parent


def wait_for(client: Client, op: str, key: str, timeout: float = 120, **req: str) -> dict[str, Any]:
    return client.wait_for(op, key, ("ACTIVE",), timeout, **req)


# --- the model -------------------------------------------------------------------------------------------------


def trained_model(data: synthetic.SyntheticData, cache: Path) -> Path:
    """UP-v2 trained by the trainer's own code for one epoch, exported once and cached."""
    if (cache / "manifest.json").exists():
        return cache
    from dataclasses import replace

    from tailor_trainer.artifacts import export
    from tailor_trainer.domain import Interactions, ItemsTable, train_solution_version
    from tailor_trainer.domain import train as trainer_train

    # One epoch: the exported graph (and so the serving cost) is the same as after a full training run.
    with contextlib.suppress(KeyError, TypeError):  # a module constant (Final): patched for this process only
        vars(trainer_train)["V2_CONFIG"] = replace(vars(trainer_train)["V2_CONFIG"], max_epochs=1)
    rows = data.interactions
    interactions = Interactions(
        user_id=np.array([r["USER_ID"] for r in rows], dtype=object),
        item_id=np.array([r["ITEM_ID"] for r in rows], dtype=object),
        timestamp=np.array([r["TIMESTAMP"] for r in rows], dtype=np.int64),
        event_type=np.array([r["EVENT_TYPE"] for r in rows], dtype=object),
        event_value=None,
    )
    items = ItemsTable(
        np.array([r["ITEM_ID"] for r in data.items], dtype=object),
        {
            "CATEGORY": np.array([r["CATEGORY"] for r in data.items], dtype=object),
            "PRICE": np.array([r["PRICE"] for r in data.items], dtype=np.float64),
        },
        frozenset({"CATEGORY"}),
        np.array([r["CREATION_TIMESTAMP"] for r in data.items], dtype=np.int64),
    )
    started = time.monotonic()
    model = train_solution_version(RECIPE, interactions, items, None, {}, False, "FULL", None, None, 42)
    if cache.exists():
        shutil.rmtree(cache)
    export(model, cache, {"bench": "runtime_latency"}, report=False)
    print(f"trained UP-v2 on {len(rows):,} interactions, {model.n_items:,} items in {time.monotonic() - started:.0f}s")
    return cache


def _trainer_hash() -> str:
    """The trainer's code version: a cached model is reused only while the trainer that made it is unchanged."""
    import hashlib

    import tailor_trainer

    digest = hashlib.sha256()
    for path in sorted(Path(tailor_trainer.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


# --- the world -------------------------------------------------------------------------------------------------


@dataclass
class World:
    stack: localstack.StackConfig
    prefix: str
    group: str  # the dataset group's storage name (``Keys.dataset_group``: name and incarnation)
    env: dict[str, str]
    workdir: Path
    data: synthetic.SyntheticData
    tracking_id: str
    campaign: str
    filter_arn: str
    promo_arn: str
    model_path: Path
    services: dict[str, Proc] = field(default_factory=dict)
    promo_date: int = 0

    @property
    def signed(self) -> bool:
        """Whether clients sign their calls: authentication is on unless the benchmark turned it off."""
        return self.env.get("TAILOR_AUTH_REQUIRED") != "0"

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix, self.group)


def build_world(stack: localstack.StackConfig, args: argparse.Namespace, workdir: Path) -> World:
    prefix = f"bench-rt-{uuid.uuid4().hex[:8]}"
    signed = getattr(args, "auth", "on") == "on"  # other benchmarks build this world without the option
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(workdir / "models"),
        "TAILOR_STREAM_DATA_DIR": str(workdir / "stream"),
        **({} if signed else {"TAILOR_AUTH_REQUIRED": "0"}),
    }
    data = synthetic.generate(n_users=args.users, n_items=args.items, seed=args.seed)
    cache = (
        ROOT / ".tailor" / "bench-cache" / f"runtime-upv2-{args.users}u-{args.items}i-s{args.seed}-{_trainer_hash()}"
    )
    model_path = trained_model(data, cache)

    services: dict[str, Proc] = {}
    try:  # a service that does not start (or any later step) stops the ones started, under their prefix
        for name in ("control", "ingest", "stream", "runtime"):
            services[name] = start_service(name, env, workdir)
        for svc in services.values():
            wait_serving(svc)
        control = Client(services["control"].address, "control", signed=signed)
        events = Client(services["ingest"].address, "events", signed=signed)
        group = f"bench-{uuid.uuid4().hex[:6]}"
        dsg = control.call("CreateDatasetGroup", name=group)["datasetGroupArn"]
        wait_for(control, "DescribeDatasetGroup", "datasetGroup", datasetGroupArn=dsg)
        datasets: dict[str, str] = {}
        for kind, schema in (("Interactions", synthetic.INTERACTIONS_SCHEMA), ("Items", synthetic.ITEMS_SCHEMA)):
            schema_arn = control.call("CreateSchema", name=f"{group}-{kind.lower()}", schema=json.dumps(schema))[
                "schemaArn"
            ]
            datasets[kind] = control.call(
                "CreateDataset",
                name=f"{group}-{kind.lower()}",
                schemaArn=schema_arn,
                datasetGroupArn=dsg,
                datasetType=kind,
            )["datasetArn"]
            wait_for(control, "DescribeDataset", "dataset", datasetArn=datasets[kind])
        tracker = control.call("CreateEventTracker", name=f"{group}-web", datasetGroupArn=dsg)
        wait_for(control, "DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
        for kind, rows in (("Items", data.items), ("Interactions", data.interactions)):
            path = workdir / f"{kind.lower()}.csv"
            path.write_text(synthetic.to_csv(rows))
            job = control.call(
                "CreateDatasetImportJob",
                jobName=f"{group}-{kind.lower()}",
                datasetArn=datasets[kind],
                dataSource={"dataLocation": path.as_uri()},
                roleArn=ROLE,
            )["datasetImportJobArn"]
            wait_for(control, "DescribeDatasetImportJob", "datasetImportJob", timeout=300, datasetImportJobArn=job)

        # The solution version: no trainer runs under this prefix; its model is the one trained above, reported
        # ACTIVE on the job-status topic as the trainer would.
        solution = control.call(
            "CreateSolution", name=f"{group}-up", recipeArn=RECIPE, datasetGroupArn=dsg, performAutoTraining=False
        )["solutionArn"]
        wait_for(control, "DescribeSolution", "solution", solutionArn=solution)
        version = control.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
        # Storage names come from the resource records (their incarnations, ADR 0012), not from the names.
        with storage.records(stack.kafka_bootstrap, prefix) as view:
            keys = storage.group_keys(view, prefix, dsg)
        install_model(stack.kafka_bootstrap, prefix, env["TAILOR_MODEL_STORE"], version, model_path)
        wait_for(control, "DescribeSolutionVersion", "solutionVersion", solutionVersionArn=version)

        filter_arn = control.call("CreateFilter", name=f"{group}-f", datasetGroupArn=dsg, filterExpression=FILTER)[
            "filterArn"
        ]
        promo_arn = control.call("CreateFilter", name=f"{group}-p", datasetGroupArn=dsg, filterExpression=PROMO)[
            "filterArn"
        ]
        for arn in (filter_arn, promo_arn):
            wait_for(control, "DescribeFilter", "filter", filterArn=arn)
        # Item metadata must be in Redis before the runtime indexes the catalogue (it re-reads it every 30 s anyway).
        probe = redis.Redis.from_url(stack.redis_url)
        deadline = time.monotonic() + 120
        while not probe.exists(keys.metadata("item", str(data.items[-1]["ITEM_ID"]))):
            if time.monotonic() > deadline:
                raise SystemExit("the stream did not apply the Items import")
            time.sleep(0.2)
        started = time.monotonic()
        campaign = control.call("CreateCampaign", name=f"{group}-up", solutionVersionArn=version)["campaignArn"]
        wait_for(control, "DescribeCampaign", "campaign", campaignArn=campaign)
        print(f"campaign ACTIVE {time.monotonic() - started:.2f}s after CreateCampaign (10,000-item model loaded)")

        # Real-time histories for the users the load asks about (bulk rows never enter the real-time history).
        by_user: dict[str, list[dict[str, object]]] = {}
        for row in data.interactions:
            by_user.setdefault(str(row["USER_ID"]), []).append(row)
        users = [str(u["USER_ID"]) for u in data.users[:HISTORY_USERS]]
        now = time.time()
        for user in users:
            recent = by_user.get(user, [])[-10:]
            events.call(
                "PutEvents",
                trackingId=tracker["trackingId"],
                userId=user,
                sessionId=f"s-{user}",
                eventList=[
                    {"eventType": str(r["EVENT_TYPE"]), "itemId": str(r["ITEM_ID"]), "sentAt": now - 60 + k}
                    for k, r in enumerate(recent)
                ],
            )
        deadline = time.monotonic() + 600  # behind the Interactions import's rows, which take minutes on a busy machine
        while not probe.exists(keys.history(f"u:{users[-1]}")):
            if time.monotonic() > deadline:
                raise SystemExit("the stream did not apply the PutEvents")
            time.sleep(0.1)
        probe.close()
        control.close()
        events.close()
        times = sorted(int(str(r["CREATION_TIMESTAMP"])) for r in data.items)
        return World(
            stack,
            prefix,
            keys.dataset_group,
            env,
            workdir,
            data,
            tracker["trackingId"],
            campaign,
            filter_arn,
            promo_arn,
            model_path,
            services,
            promo_date=times[int(len(times) * 0.8)],  # the newest 20 % of the catalogue is promoted
        )
    except BaseException:
        for svc in services.values():
            svc.stop()
        localstack.purge_prefix(stack, prefix)
        raise


# --- requests and load -----------------------------------------------------------------------------------------


def requests_for(world: World, scenario: str) -> list[runtime_pb2.GetRecommendationsRequest]:
    out = []
    cats = synthetic.CATEGORIES
    for n, user in enumerate(str(u["USER_ID"]) for u in world.data.users[:HISTORY_USERS]):
        req = runtime_pb2.GetRecommendationsRequest(campaign_arn=world.campaign, user_id=user, num_results=NUM_RESULTS)
        if scenario in ("filter", "filter+promo"):
            req.filter_arn = world.filter_arn
            chosen = [cats[(n + k) % len(cats)] for k in range(3)]
            req.filter_values["CATEGORIES"] = ",".join(f'"{c}"' for c in chosen)
        if scenario == "filter+promo":
            promo = req.promotions.add()
            promo.name = "new-arrivals"
            promo.percent_promoted_items = 20
            promo.filter_arn = world.promo_arn
            promo.filter_values["DATE"] = str(world.promo_date)
        out.append(req)
    return out


@dataclass
class Result:
    server: str
    workers: int
    scenario: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    server_cpu_us: float
    redis_cpu_us: float
    client_cpu_us: float
    load: float = 0.0  # 1-minute load average after the run (this machine is shared)
    round: int = 0  # which repetition of the side-by-side run
    #: The Kafka broker's and the stream worker's CPU per request: the runtime's impression records cost there
    #: (stored, then remembered for attribution), the ceiling writes none (ADR 0019 §12).
    broker_cpu_us: float = 0.0
    stream_cpu_us: float = 0.0

    @property
    def all_cpu_us(self) -> float:
        """Every measured process's CPU per request: on a machine the load fills, throughput follows this sum."""
        return self.server_cpu_us + self.redis_cpu_us + self.client_cpu_us + self.broker_cpu_us + self.stream_cpu_us

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def drive(
    address: str,
    reqs: Sequence[runtime_pb2.GetRecommendationsRequest],
    concurrency: int,
    seconds: float,
    warmup: float,
    channels: int,
    measure: Callable[[], tuple[float, float]],
    signed: bool = True,
) -> tuple[int, int, float, list[float], float, float, float]:
    """Closed-loop load: ``concurrency`` tasks each send the next request as soon as the last one returned."""
    opts = [("grpc.use_local_subchannel_pool", 1)]  # one connection per channel (SO_REUSEPORT spreads them)
    chans = [aio_channel(address, options=opts, signed=signed) for _ in range(max(1, min(channels, concurrency)))]
    stubs = [runtime_pb2_grpc.PersonalizeRuntimeStub(c) for c in chans]
    for c in chans:
        await asyncio.wait_for(c.channel_ready(), 10)
    latencies: list[float] = []
    errors = [0]
    recording = [False]
    stop = [False]

    async def worker(i: int) -> None:
        call = stubs[i % len(stubs)].GetRecommendations
        n = i * 7919
        while not stop[0]:
            req = reqs[n % len(reqs)]
            n += 1
            t = time.perf_counter()
            try:
                await call(req, timeout=10)
            except grpc.aio.AioRpcError:
                errors[0] += 1
                continue
            if recording[0]:
                latencies.append(time.perf_counter() - t)

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(warmup)
    server_cpu0, redis_cpu0 = measure()
    client_cpu0 = time.process_time()
    errors[0] = 0
    recording[0] = True
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    recording[0] = False
    elapsed = time.perf_counter() - t0
    server_cpu1, redis_cpu1 = measure()
    client_cpu = time.process_time() - client_cpu0
    stop[0] = True
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in chans:
        await c.close()
    n = len(latencies)
    return (
        n,
        errors[0],
        elapsed,
        latencies,
        (server_cpu1 - server_cpu0) / max(n, 1) * 1e6,
        (redis_cpu1 - redis_cpu0) / max(n, 1) * 1e6,
        client_cpu / max(n, 1) * 1e6,
    )


def run_cell(
    world: World,
    server: str,
    workers: int,
    address: str,
    procs: Callable[[], float],
    scenario: str,
    concurrency: int,
    args: argparse.Namespace,
    rnd: int = 0,
) -> Result:
    rcli = redis.Redis.from_url(world.stack.redis_url)
    broker = localstack.running_pid(world.stack, "kafka")  # None: a broker this benchmark did not start (no pid file)
    stream = world.services.get("stream")
    others: list[tuple[float, float]] = []  # (broker, stream) CPU seconds at the start and the end of the run

    def measure() -> tuple[float, float]:
        others.append((proc_cpu(broker) if broker else 0.0, stream.cpu() if stream else 0.0))
        return procs(), redis_cpu(rcli.info("cpu"))

    reqs = requests_for(world, "plain" if server != "runtime" else scenario)
    n, errors, elapsed, lat, scpu, rcpu, ccpu = asyncio.run(
        drive(address, reqs, concurrency, args.seconds, args.warmup, args.channels, measure, world.signed)
    )
    rcli.close()
    load = os.getloadavg()[0]
    (broker0, stream0), (broker1, stream1) = others
    per = 1e6 / max(n, 1)
    result = Result(
        server,
        workers,
        scenario,
        concurrency,
        n,
        errors,
        elapsed,
        lat,
        scpu,
        rcpu,
        ccpu,
        load,
        rnd,
        (broker1 - broker0) * per,
        (stream1 - stream0) * per,
    )
    print(
        f"  {'warm-up ' if rnd < 0 else ''}{server:<12} w={workers} {scenario:<13} c={concurrency:<3} "
        f"{result.rps:8.0f} req/s  "
        f"p50 {pct(lat, 0.5) * 1e3:6.2f} ms  p99 {pct(lat, 0.99) * 1e3:6.2f} ms  errors {errors}",
        flush=True,
    )
    return result


# --- the baseline servers (a child process of this script) -----------------------------------------------------


class Baseline(runtime_pb2_grpc.PersonalizeRuntimeServicer):
    """The physical limit: the same gRPC stack and response size, plus optionally the Redis read and ONNX call."""

    def __init__(self, mode: str, redis_url: str, prefix: str, group: str, model: Path) -> None:
        from tailor_runtime.adapters import RedisState
        from tailor_shared.scoring.loader import load_model

        self._mode = mode
        self._keys = Keys(prefix, group)
        self._state = RedisState(redis_url, 50)
        self._model = load_model(model) if "onnx" in mode else None
        ids = list(self._model.item_ids if self._model is not None else [f"item-{i:05d}" for i in range(NUM_RESULTS)])
        self._position = {item: i for i, item in enumerate(ids)}
        self._response = runtime_pb2.GetRecommendationsResponse(
            item_list=[runtime_pb2.PredictedItem(item_id=ids[i], score=0.000123 * (i + 1)) for i in range(NUM_RESULTS)],
            recommendation_id=f"RID-{uuid.uuid4()}",
        )

    async def GetRecommendations(
        self, request: runtime_pb2.GetRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetRecommendationsResponse:
        if self._mode != "echo":
            state = await self._state.user_state(self._keys, request.user_id, FILTER_EVENT_TYPES)
            if self._model is not None:
                history = [self._position[e.item_id] for e in reversed(state.history) if e.item_id in self._position]
                self._model.score_history(history)
        return self._response

    async def GetPersonalizedRanking(
        self, request: runtime_pb2.GetPersonalizedRankingRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetPersonalizedRankingResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the baseline")
        raise AssertionError

    async def GetActionRecommendations(
        self, request: runtime_pb2.GetActionRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetActionRecommendationsResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the baseline")
        raise AssertionError


def serve_baseline(args: argparse.Namespace) -> None:
    """The baseline servicer on the runtime's own server stack (``tailor_shared.grpc_server.start_server``: grpc.aio,
    the interceptor every service runs — authentication when it is on, error mapping, request metrics — and
    the same options), configured from the same environment as the runtime, so only the handler differs."""
    from tailor_runtime.handlers import SERVICE_NAME
    from tailor_shared.config import CommonSettings
    from tailor_shared.grpc_server import GrpcService, settle_heap, start_server

    async def main() -> None:
        settings = CommonSettings.from_env("runtime", args.port, 0)
        servicer = Baseline(args.serve_baseline, args.redis_url, args.prefix, args.group, Path(args.model))
        handle = await start_server(
            settings, [GrpcService(runtime_pb2_grpc.add_PersonalizeRuntimeServicer_to_server, servicer, SERVICE_NAME)]
        )
        gc.collect()  # the garbage collector's settings of every served process (``grpc_server.serve``)
        settle_heap()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await handle.stop(1)

    asyncio.run(main())


def start_baselines(world: World, mode: str, processes: int) -> tuple[list[subprocess.Popen[bytes]], str]:
    """``processes`` baseline servers on one free port; a new port when one could not bind it (the machine is
    shared: another process may take a port between ``free_port`` and the bind)."""
    for _attempt in range(3):
        started = _start_baselines_on(world, mode, processes, free_port())
        if started is not None:
            return started
    raise SystemExit(f"baseline {mode} did not start")


def _start_baselines_on(
    world: World, mode: str, processes: int, port: int
) -> tuple[list[subprocess.Popen[bytes]], str] | None:
    cmd = [
        sys.executable,
        __file__,
        "--serve-baseline",
        mode,
        "--port",
        str(port),
        "--redis-url",
        world.stack.redis_url,
        "--prefix",
        world.prefix,
        "--group",
        world.group,
        "--model",
        str(world.model_path),
    ]
    env = {
        **os.environ,
        **identity.ensure(world.stack.state_dir).env(),
        **world.env,
        "TAILOR_RUNTIME_PORT": str(port),
        "TAILOR_GRPC_REUSE_PORT": "1",
        "TAILOR_LOG_LEVEL": "WARNING",
    }
    procs = [subprocess.Popen(cmd, env=env) for _ in range(processes)]
    address = f"127.0.0.1:{port}"
    probe = channel(address, signed=world.signed)
    stub = runtime_pb2_grpc.PersonalizeRuntimeStub(probe)
    deadline = time.monotonic() + 60
    req = requests_for(world, "plain")[0]
    try:
        while True:
            try:
                stub.GetRecommendations(req, timeout=2)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    for p in procs:
                        p.kill()
                        p.wait(10)
                    return None
                time.sleep(0.2)
    finally:
        probe.close()
    time.sleep(1.0 if processes > 1 else 0.2)  # let every process bind
    return procs, address


# --- freshness -------------------------------------------------------------------------------------------------


def freshness(world: World, address: str, samples: int, under_load: int, args: argparse.Namespace) -> list[float]:
    """Seconds from the start of PutEvents until GetRecommendations returns a changed list."""
    runtime = Client(address, "runtime", signed=world.signed)
    events = Client(world.services["ingest"].address, "events", signed=world.signed)
    categories: dict[str, list[str]] = {}
    for item, cat in world.data.item_category.items():
        categories.setdefault(cat, []).append(item)
    load_stop = [False]
    load_thread = None
    if under_load:
        import threading

        reqs = requests_for(world, "plain")

        def background() -> None:
            async def go() -> None:
                chan = aio_channel(address, options=[("grpc.use_local_subchannel_pool", 1)], signed=world.signed)
                stub = runtime_pb2_grpc.PersonalizeRuntimeStub(chan)

                async def worker(i: int) -> None:
                    n = i
                    while not load_stop[0]:
                        with contextlib.suppress(grpc.aio.AioRpcError):
                            await stub.GetRecommendations(reqs[n % len(reqs)], timeout=10)
                        n += 1

                await asyncio.gather(*(worker(i) for i in range(under_load)))
                await chan.close()

            asyncio.run(go())

        load_thread = threading.Thread(target=background, daemon=True)
        load_thread.start()
        time.sleep(1.0)
    out: list[float] = []
    try:
        for k in range(samples):
            user = f"fresh-{uuid.uuid4().hex[:8]}"
            request = {"campaignArn": world.campaign, "userId": user, "numResults": NUM_RESULTS}
            before = [i["itemId"] for i in runtime.call("GetRecommendations", **request)["itemList"]]
            shown = {world.data.item_category[i] for i in before}
            cat = next((c for c in synthetic.CATEGORIES[k % 10 :] + synthetic.CATEGORIES if c not in shown), "books")
            clicked = categories[cat][k * 3 : k * 3 + 3]
            started = time.monotonic()
            now = time.time()
            events.call(
                "PutEvents",
                trackingId=world.tracking_id,
                userId=user,
                sessionId=f"s-{user}",
                eventList=[{"eventType": "click", "itemId": i, "sentAt": now + j} for j, i in enumerate(clicked)],
            )
            while True:
                after = [i["itemId"] for i in runtime.call("GetRecommendations", **request)["itemList"]]
                elapsed = time.monotonic() - started
                if after != before or elapsed > 5:
                    break
                time.sleep(0.005)
            out.append(elapsed if after != before else float("inf"))
    finally:
        load_stop[0] = True
        if load_thread is not None:
            load_thread.join(10)
        runtime.close()
        events.close()
    return out


# --- report ----------------------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    limit = {(r.round, r.workers, r.concurrency): r.rps for r in results if r.server == "+redis+onnx"}
    echo = {(r.round, r.workers, r.concurrency): r.rps for r in results if r.server == "echo"}
    lines = [
        "| round | server | workers | scenario | concurrency | req/s | p50 ms | p99 ms | % of echo "
        "| % of echo+redis+onnx | server CPU µs/req | Redis CPU µs/req | client CPU µs/req | broker CPU µs/req "
        "| stream CPU µs/req | all CPU µs/req | errors | load avg |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        e = echo.get((r.round, r.workers, r.concurrency))
        lim = limit.get((r.round, r.workers, r.concurrency))
        lines.append(
            f"| {r.round + 1} | {r.server} | {r.workers} | {r.scenario} | {r.concurrency} | {r.rps:,.0f} | "
            f"{pct(r.latencies, 0.5) * 1e3:.2f} | {pct(r.latencies, 0.99) * 1e3:.2f} | "
            f"{100 * r.rps / e if e else float('nan'):.0f} % | {100 * r.rps / lim if lim else float('nan'):.0f} % | "
            f"{r.server_cpu_us:,.0f} | {r.redis_cpu_us:,.0f} | {r.client_cpu_us:,.0f} | {r.broker_cpu_us:,.0f} | "
            f"{r.stream_cpu_us:,.0f} | {r.all_cpu_us:,.0f} | {r.errors} | {r.load:.1f} |"
        )
    return "\n".join(lines)


def ceiling_table(results: list[Result]) -> str:
    """The goal's view (issue 20, point 2): per round, each request kind's throughput as a share of the echo +
    Redis + ONNX ceiling measured in the same round, its p99 over the ceiling's p99, and its CPU per request of
    every measured process over the ceiling's (the cost that decides throughput when the load fills the machine)."""
    ceiling = {(r.round, r.workers, r.concurrency): r for r in results if r.server == "+redis+onnx"}
    lines = [
        "| workers | concurrency | scenario | % of ceiling per round | median | p99 / ceiling p99 per round | median "
        "| all CPU / ceiling's per round | median |",
        "|---:|---:|---|---|---:|---|---:|---|---:|",
    ]
    groups: dict[tuple[int, int, str], list[tuple[float, float, float]]] = {}
    for r in results:
        lim = ceiling.get((r.round, r.workers, r.concurrency))
        if r.server != "runtime" or lim is None or not lim.rps or not r.latencies:
            continue
        ratio = pct(r.latencies, 0.99) / pct(lim.latencies, 0.99)
        cpu = r.all_cpu_us / lim.all_cpu_us if lim.all_cpu_us else float("nan")
        groups.setdefault((r.workers, r.concurrency, r.scenario), []).append((100 * r.rps / lim.rps, ratio, cpu))
    for (w, c, scenario), values in groups.items():
        shares, ratios, cpus = [v[0] for v in values], [v[1] for v in values], [v[2] for v in values]
        lines.append(
            f"| {w} | {c} | {scenario} | {' / '.join(f'{v:.0f} %' for v in shares)} | {float(np.median(shares)):.0f} % "
            f"| {' / '.join(f'{v:.2f}' for v in ratios)} | {float(np.median(ratios)):.2f} "
            f"| {' / '.join(f'{v:.2f}' for v in cpus)} | {float(np.median(cpus)):.2f} |"
        )
    return "\n".join(lines)


def fresh_row(label: str, values: list[float]) -> str:
    ms = [v * 1e3 for v in values]
    return f"| {label} | {len(ms)} | {pct(ms, 0.5):.0f} | {pct(ms, 0.9):.0f} | {pct(ms, 0.99):.0f} | {max(ms):.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the ceiling + runtime cells side by side")
    parser.add_argument(
        "--warmup-rounds", type=int, default=1, help="unreported rounds of every cell first (both sides alike)"
    )
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--samples", type=int, default=25, help="freshness samples per condition (0: none)")
    parser.add_argument(
        "--auth", choices=("on", "off"), default="on", help="authentication of every service and baseline (ADR 0026)"
    )
    parser.add_argument("--serve-baseline", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="", help=argparse.SUPPRESS)
    parser.add_argument("--group", default="", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args)
        return

    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    concurrency = [int(c) for c in args.concurrency.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    workdir = Path(tempfile_dir())
    t0 = time.monotonic()
    world = build_world(stack, args, workdir)
    print(f"set-up {time.monotonic() - t0:.0f}s; load average {os.getloadavg()[0]:.2f}", flush=True)
    results: list[Result] = []
    fresh: list[tuple[str, list[float]]] = []
    try:
        for w in workers:
            if w != 1 or world.services["runtime"].proc.poll() is not None:
                world.services["runtime"].stop()
                world.services["runtime"] = start_service(
                    "runtime", world.env, workdir, tag=f"-w{w}", TAILOR_RUNTIME_WORKERS=str(w)
                )
                wait_serving(world.services["runtime"])
                time.sleep(1.0 if w > 1 else 0.2)
            runtime = world.services["runtime"]
            # The ceiling and the runtime side by side, repeated (a shared machine). Round -1 (``--warmup-rounds``)
            # warms both sides up the same way and is printed but left out of the tables: the runtime process
            # served nothing before it (its first round ran ~30 % below the next ones, ADR 0019 §10).
            for rnd in range(-args.warmup_rounds, args.rounds):
                kept = results if rnd >= 0 else []
                for mode in ("echo", "+redis", "+redis+onnx"):
                    procs, address = start_baselines(world, mode.strip("+").replace("+", "-") or "echo", w)

                    def baseline_cpu(ps: list[subprocess.Popen[bytes]] = procs) -> float:
                        return sum(proc_cpu(p.pid) for p in ps)

                    try:
                        for c in concurrency:
                            kept.append(run_cell(world, mode, w, address, baseline_cpu, "plain", c, args, rnd))
                    finally:
                        for p in procs:
                            p.send_signal(signal.SIGTERM)
                        for p in procs:
                            p.wait(10)
                for scenario in ("plain", "filter", "filter+promo"):
                    for c in concurrency:
                        kept.append(run_cell(world, "runtime", w, runtime.address, runtime.cpu, scenario, c, args, rnd))
            if not args.samples:
                continue
            fresh.append((f"workers={w}, idle", freshness(world, runtime.address, args.samples, 0, args)))
            fresh.append((f"workers={w}, under load c=16", freshness(world, runtime.address, args.samples, 16, args)))
    finally:
        cleanup(world)
    print()
    print(
        f"GetRecommendations, {args.items:,}-item catalogue, numResults {NUM_RESULTS}, {os.cpu_count()} CPUs, "
        f"{args.seconds:.0f} s per cell; load average at the end {os.getloadavg()[0]:.2f}"
    )
    print()
    print(table(results))
    print()
    print(ceiling_table(results))
    print()
    if not fresh:
        print(f"\ntotal {time.monotonic() - t0:.0f}s")
        return
    print("Event to changed recommendation (ms, from the start of PutEvents to the first changed GetRecommendations)")
    print()
    print("| condition | samples | p50 | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, values in fresh:
        print(fresh_row(label, values))
    print(f"\ntotal {time.monotonic() - t0:.0f}s")


def cleanup(world: World) -> None:
    """Stop the world's services, then delete everything under its prefix (topics, consumer groups, Redis keys)
    and its working directory, so a benchmark leaves nothing running or stored."""
    for svc in world.services.values():
        svc.stop()
    localstack.purge_prefix(world.stack, world.prefix)
    shutil.rmtree(world.workdir, ignore_errors=True)


def tempfile_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="tailor-bench-runtime-")


if __name__ == "__main__":
    main()
