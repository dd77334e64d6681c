"""Stream benchmark: events/s applied to Redis by one and by two workers, and freshness under steady load.

Loopback only (the local stack: ``uv run tailor local up``); bounded in time; prints a table.

* Throughput: a backlog of interactions is produced first (direct Kafka production with
  ``tailor_shared.records.encode_row``), then real worker processes (``python -m tailor_stream``) start and
  the time from their first applied batch to the last is measured. Worker and Redis CPU per event are
  reported too: unlike wall time, they don't depend on what else the machine is running.
* Freshness: one worker runs; events arrive at a steady rate, and for each one the time from its
  acknowledgement to the event being readable in the user's Redis history is measured (polled every ~2 ms).
  Two sources, alternated: one-event PutEvents calls to a real ingest service (control + ingest + stream as
  processes; acknowledged = the call returned, so the event is on Kafka with acks=all), and direct production
  to the topic (acknowledged = the broker's delivery report), which isolates the stream's share.

    uv run python bench/stream_throughput.py [--events 100000] [--rate 1000] [--seconds 15] [--repeats 3]

Items are popularity-skewed (Pareto) in the main runs; one run uses uniform items, the costlier case for
Redis (a batch touches more distinct popularity and trend counters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import harness
import redis.asyncio as aioredis
from confluent_kafka import KafkaError, Message
from confluent_kafka import Producer as RawProducer

from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor_shared import redis_keys as rk
from tailor_shared import storage
from tailor_shared.kafka import OutgoingRecord
from tailor_shared.records import new_event_id
from tailor_stream.processor import close_redis
from tailor_stream.rebuild import wipe
from tailor_tools import localstack
from tailor_tools import workload as wl
from tailor_tools.client import Client, aio_channel
from tailor_tools.ports import free_port

EVENT_TYPES = ("click", "view", "purchase")


@dataclass
class Row:
    scenario: str
    events: int
    seconds: float
    rate: float
    worker_cpu_us: float
    redis_cpu_us: float


def _worker(stack: localstack.StackConfig, prefix: str, workdir: Path, n: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_STREAM_PORT": str(free_port()),
        "TAILOR_STREAM_DATA_DIR": str(workdir / f"stream-{n}"),
        "TAILOR_LOG_LEVEL": "WARNING",
    }
    log = (workdir / f"worker-{prefix}-{n}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "tailor_stream"], env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _interactions(
    group: wl.DatasetGroup, n: int, now: int, uniform: bool, users: int = 10_000, items: int = 5_000
) -> list[OutgoingRecord]:
    """Interactions of 10,000 users with 5,000 items: popularity-skewed (Pareto) or uniform. Uniform is the
    costlier case for Redis: a batch touches more distinct popularity and trend counters."""
    rnd = random.Random(42)

    def item() -> str:
        return f"i{rnd.randrange(items)}" if uniform else f"i{int(rnd.paretovariate(1.1)) % items}"

    return [
        group.record(
            "Interactions",
            wl.interaction_row(f"u{rnd.randrange(users)}", item(), now - n + i, rnd.choice(EVENT_TYPES)),
            event_id=new_event_id(),
        )
        for i in range(n)
    ]


async def throughput(
    stack: localstack.StackConfig, workdir: Path, events: int, workers: int, deadline: float, uniform: bool
) -> Row:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    group = wl.DatasetGroup(prefix, "shop", incarnated=True)
    group.create(stack.kafka_bootstrap)
    await asyncio.to_thread(wl.produce, stack.kafka_bootstrap, _interactions(group, events, int(time.time()), uniform))
    redis: aioredis.Redis[bytes] = aioredis.Redis.from_url(stack.redis_url)
    stats = group.keys().stats()
    procs = [_worker(stack, prefix, workdir, n) for n in range(workers)]
    try:
        first_n, first_t, cpu0, rcpu0 = 0, 0.0, 0.0, 0.0
        done_n, done_t = 0, 0.0
        while time.monotonic() < deadline:
            n = int(await redis.hget(stats, "records") or 0)
            if n and not first_t:
                first_n, first_t = n, time.monotonic()
                cpu0, rcpu0 = sum(harness.proc_cpu(p.pid) for p in procs), harness.redis_cpu(await redis.info("cpu"))
            if n >= events:
                done_n, done_t = n, time.monotonic()
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker exited: see {workdir}")
            await asyncio.sleep(0.02)
        if not done_t:
            raise RuntimeError("throughput run did not finish in time")
        cpu1, rcpu1 = sum(harness.proc_cpu(p.pid) for p in procs), harness.redis_cpu(await redis.info("cpu"))
        counted = done_n - first_n
        seconds = done_t - first_t
        return Row(
            f"throughput, {workers} worker{'s' if workers > 1 else ''}, {'uniform' if uniform else 'skewed'} items",
            counted,
            seconds,
            counted / seconds,
            1e6 * (cpu1 - cpu0) / counted,
            1e6 * (rcpu1 - rcpu0) / counted,
        )
    finally:
        _stop(procs)
        await wipe(redis, prefix)
        await close_redis(redis)


class _Visibility:
    """Which sent events are readable in their user's Redis history yet, polled every ~2 ms in one pipeline."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, str]] = []  # (history key, member) per event
        self.sent_at: list[float] = []
        self.called_at: dict[int, float] = {}  # when a PutEvents call left its client queue
        self.acked: dict[int, float] = {}  # when the producer's ack / the PutEvents call returned
        self.visible: dict[int, float] = {}
        self.pending: set[int] = set()
        self.errors: dict[str, int] = {}  # failed PutEvents calls by status code (never acknowledged)

    def add(self, key: str, member: str) -> int:
        n = len(self.targets)
        self.targets.append((key, member))
        self.sent_at.append(time.monotonic())
        self.pending.add(n)
        return n

    async def poll(self, redis: aioredis.Redis[bytes]) -> None:
        order = sorted(self.pending)
        pipe = redis.pipeline(transaction=False)
        for n in order:
            pipe.zscore(*self.targets[n])
        scores = await pipe.execute()
        seen = time.monotonic()
        for n, score in zip(order, scores, strict=True):
            if score is not None:
                self.visible[n] = seen
                self.pending.discard(n)


async def _put_events_world(
    stack: localstack.StackConfig, workdir: Path, prefix: str
) -> tuple[list[harness.Proc], str, str, str]:
    """control + ingest + a stream worker under ``prefix``; a dataset group with an event tracker. Returns the
    processes, ingest's address, the tracking id and the group's storage name (``Keys.dataset_group``)."""
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_STREAM_DATA_DIR": str(workdir / f"stream-{prefix}"),
    }
    procs = [harness.start_service(name, env, workdir, tag=f"-{prefix}") for name in ("control", "ingest", "stream")]
    for proc in procs:
        harness.wait_serving(proc)
    control = Client(procs[0].address, "control")
    try:
        dsg = control.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=dsg)
        schema = control.call("CreateSchema", name=f"{prefix}-i", schema=json.dumps(wl.SCHEMAS["Interactions"]))
        dataset = control.call(
            "CreateDataset", name="events", schemaArn=schema["schemaArn"], datasetGroupArn=dsg,
            datasetType="Interactions",
        )["datasetArn"]  # fmt: skip
        control.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
        tracker = control.call("CreateEventTracker", name="web", datasetGroupArn=dsg)
        control.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    finally:
        control.close()
    # The group's Redis keys are bound to its incarnation, read from its record (ADR 0012).
    with storage.records(stack.kafka_bootstrap, prefix) as view:
        group_tag = storage.group_keys(view, prefix, dsg).dataset_group
    return procs, procs[1].address, tracker["trackingId"], group_tag


async def freshness(
    stack: localstack.StackConfig, workdir: Path, rate: int, seconds: float, source: str, max_in_flight: int = 64
) -> tuple[Row, dict[str, float]]:
    """Events at a steady ``rate``: each one's time from acknowledgement to visible in Redis.

    ``source`` "putevents": one-event PutEvents calls to a real ingest service (the acknowledgement is the
    call returning, i.e. the event is on Kafka with acks=all; at most ``max_in_flight`` calls at once);
    "produce": records produced straight to the
    dataset's topic (the acknowledgement is the broker's delivery report).
    """
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    redis: aioredis.Redis[bytes] = aioredis.Redis.from_url(stack.redis_url)
    vis = _Visibility()
    procs: list[subprocess.Popen[bytes]] = []
    services: list[harness.Proc] = []
    channel: grpc.aio.Channel | None = None
    producer: RawProducer | None = None
    calls: set[asyncio.Task[None]] = set()
    rnd = random.Random(7)
    try:
        if source == "putevents":
            services, address, tracking_id, group_name = await _put_events_world(stack, workdir, prefix)
            channel = aio_channel(address)
            stub = events_pb2_grpc.PersonalizeEventsStub(channel)
            worker_pid = services[2].proc.pid

            in_flight = asyncio.Semaphore(max_in_flight)

            async def put(n: int, user: str, item: str, token: str) -> None:
                event = events_pb2.Event(event_id=token, event_type="click", item_id=item, sent_at=time.time())
                request = events_pb2.PutEventsRequest(
                    tracking_id=tracking_id, user_id=user, session_id=f"s-{user}", event_list=[event]
                )
                try:
                    async with in_flight:  # as an application's client pool would; the rest queue here
                        vis.called_at[n] = time.monotonic()
                        await stub.PutEvents(request, timeout=30)
                except grpc.aio.AioRpcError as err:
                    vis.errors[str(err.code().name)] = vis.errors.get(str(err.code().name), 0) + 1
                    return
                vis.acked[n] = time.monotonic()

            def send(n: int, user: str, item: str, token: str) -> None:
                task = asyncio.create_task(put(n, user, item, token))
                calls.add(task)
                task.add_done_callback(calls.discard)

        else:
            wl_group = wl.DatasetGroup(prefix, "shop", incarnated=True)
            wl_group.create(stack.kafka_bootstrap)
            group_name = wl_group.keys().dataset_group
            procs = [_worker(stack, prefix, workdir, 0)]
            worker_pid = procs[0].pid
            raw = RawProducer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 0})
            producer = raw

            def on_delivery(n: int) -> Callable[[KafkaError | None, Message], None]:
                def callback(err: KafkaError | None, _msg: Message) -> None:
                    if err is None:
                        vis.acked[n] = time.monotonic()

                return callback

            def send(n: int, user: str, item: str, token: str) -> None:
                row = wl.interaction_row(user, item, int(time.time()), "click")
                record = wl_group.record("Interactions", row, event_id=token)
                raw.produce(
                    record.topic, record.value, record.key, headers=list(record.headers), on_delivery=on_delivery(n)
                )

        keys = rk.Keys(prefix, group_name)
        # Warm up: the pipeline is live once a first event shows up in Redis.
        warm = vis.add(keys.history(rk.user_subject("warmup")), "")
        send(warm, "warmup", "i0", new_event_id())
        ready_by = time.monotonic() + 60
        while not await redis.exists(keys.history(rk.user_subject("warmup"))):
            if producer is not None:
                producer.poll(0)
            if time.monotonic() > ready_by:
                raise RuntimeError(f"the pipeline is not live: see the logs in {workdir}")
            await asyncio.sleep(0.05)
        await asyncio.gather(*calls)
        vis = _Visibility()

        total = int(rate * seconds)
        cpu0, rcpu0 = harness.proc_cpu(worker_pid), harness.redis_cpu(await redis.info("cpu"))
        start = time.monotonic()
        next_check = start
        while len(vis.visible) < total and time.monotonic() < start + seconds + 30:
            now = time.monotonic()
            due = min(total, int((now - start) * rate) + 1)
            while len(vis.targets) < due:
                user, item, token = f"u{rnd.randrange(1000)}", f"i{rnd.randrange(5000)}", new_event_id()
                member = rk.history_member(rk.event_token(token), item, "click", None)
                send(vis.add(keys.history(rk.user_subject(user)), member), user, item, token)
            if producer is not None:
                producer.poll(0)
            if now >= next_check and vis.pending:
                next_check = now + 0.002
                await vis.poll(redis)
            await asyncio.sleep(0.0005)
        if producer is not None:
            producer.flush(10)
        await asyncio.gather(*calls)
        cpu1, rcpu1 = harness.proc_cpu(worker_pid), harness.redis_cpu(await redis.info("cpu"))
        from_ack = [max(0.0, vis.visible[n] - vis.acked[n]) for n in vis.visible if n in vis.acked]
        from_send = [vis.visible[n] - vis.sent_at[n] for n in vis.visible]
        ack_delay = [vis.acked[n] - vis.called_at.get(n, vis.sent_at[n]) for n in vis.acked]
        if not from_ack:
            raise RuntimeError("no event became visible")
        if vis.errors:
            print(f"failed PutEvents calls by status: {vis.errors}", file=sys.stderr)
        quantiles = {
            "p50_ack_ms": 1000 * harness.pct(from_ack, 0.50),
            "p99_ack_ms": 1000 * harness.pct(from_ack, 0.99),
            "max_ack_ms": 1000 * max(from_ack),
            "p50_send_ms": 1000 * harness.pct(from_send, 0.50),
            "p99_send_ms": 1000 * harness.pct(from_send, 0.99),
            "p99_call_ms": 1000 * harness.pct(ack_delay, 0.99),
            "lost": float(len(set(vis.acked) - set(vis.visible))),
            "failed": float(sum(vis.errors.values())),
        }
        span = max(vis.visible.values()) - start
        label = "PutEvents" if source == "putevents" else "direct produce"
        row_out = Row(
            f"freshness via {label} @ {rate}/s",
            len(vis.visible),
            span,
            len(vis.visible) / span,
            1e6 * (cpu1 - cpu0) / max(1, len(vis.visible)),
            1e6 * (rcpu1 - rcpu0) / max(1, len(vis.visible)),
        )
        return row_out, quantiles
    finally:
        if channel is not None:
            await channel.close()
        for svc in services:
            svc.stop()
        _stop(procs)
        await wipe(redis, prefix)
        await close_redis(redis)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        print("| " + " | ".join(cells) + " |")


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="backlog per throughput run")
    parser.add_argument("--rate", type=int, default=1000, help="events/s in the freshness run")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the freshness run")
    parser.add_argument("--in-flight", type=int, default=64, help="concurrent PutEvents calls at most")
    parser.add_argument("--repeats", type=int, default=3, help="freshness runs per source")
    parser.add_argument("--budget", type=float, default=240.0, help="stop after this many seconds in all")
    args = parser.parse_args(argv)
    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"tailor-bench-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    deadline = time.monotonic() + args.budget
    load_before = os.getloadavg()
    rows = [
        await throughput(stack, workdir, args.events, 1, deadline, uniform=False),
        await throughput(stack, workdir, args.events, 1, deadline, uniform=True),
        await throughput(stack, workdir, args.events, 2, deadline, uniform=False),
    ]
    fresh: list[tuple[str, dict[str, float]]] = []
    for run in range(args.repeats):
        for source in ("putevents", "produce"):
            fresh_row, quantiles = await freshness(stack, workdir, args.rate, args.seconds, source, args.in_flight)
            rows.append(fresh_row)
            fresh.append((f"{'PutEvents returned' if source == 'putevents' else 'produce acked'} (run {run + 1})",
                          quantiles))  # fmt: skip
    load_after = os.getloadavg()

    print(f"\nstream benchmark ({os.cpu_count()} CPUs, load average {load_before[0]:.1f} -> {load_after[0]:.1f})")
    _table(
        ("scenario", "events", "seconds", "events/s", "worker CPU us/ev", "Redis CPU us/ev"),
        [
            (
                r.scenario,
                str(r.events),
                f"{r.seconds:.2f}",
                f"{r.rate:.0f}",
                f"{r.worker_cpu_us:.1f}",
                f"{r.redis_cpu_us:.1f}",
            )
            for r in rows
        ],
    )
    print("\nfreshness (acknowledged -> visible in the user's Redis history; 'call p99' = the PutEvents call alone):")
    names = ("p50_ack_ms", "p99_ack_ms", "max_ack_ms", "p50_send_ms", "p99_send_ms", "p99_call_ms", "lost", "failed")
    _table(
        (
            "from",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p50 from send ms",
            "p99 from send ms",
            "call p99 ms",
            "acked, not seen",
            "failed calls",
        ),
        [
            (label, *(f"{q[n]:.1f}" if n not in ("lost", "failed") else f"{q[n]:.0f}" for n in names))
            for label, q in fresh
        ],
    )
    print("goals: >= 10,000 events/s per worker; freshness p99 <= 250 ms")


if __name__ == "__main__":
    asyncio.run(main())
