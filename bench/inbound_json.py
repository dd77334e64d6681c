"""Inbound JSON benchmark (ADR 0024): Personalize JSON on an inbound topic -> visible in Redis, next to PutEvents.

One world for both paths: control + ingest (its inbound forwarder) + one stream worker as processes, a dataset
group with an Interactions dataset and an event tracker. Loopback only (the local stack); prints tables.

* Freshness at a steady rate: events alternate between runs of one-event PutEvents calls (acknowledged = the
  call returned) and runs of JSON records produced by a plain confluent_kafka producer to the group's
  ``inbound.events`` topic (acknowledged = the broker's delivery report); for each event, the time until it is
  readable in the user's Redis history (polled every ~2 ms; ``stream_throughput._Visibility``).
* Throughput: a backlog of JSON events on the inbound topic, then the time from the first to the last one
  applied by the stream (the forwarder and the one stream worker both work through it); ingest and stream CPU
  per event. The same for a backlog of PutEvents calls (10 events per call, 16 in flight).

    uv run python bench/inbound_json.py [--rate 1000] [--seconds 15] [--repeats 3] [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
from confluent_kafka.admin import AdminClient
from stream_throughput import Row, _put_events_world, _table, _Visibility

from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor_shared import redis_keys as rk
from tailor_shared import storage, topics
from tailor_shared.records import new_event_id
from tailor_stream.processor import close_redis
from tailor_stream.rebuild import wipe
from tailor_tools import localstack
from tailor_tools.client import aio_channel


@dataclass
class World:
    procs: list[harness.Proc]  # control, ingest, stream
    tracking_id: str
    keys: rk.Keys
    inbound: str  # the group's inbound events topic
    channel: grpc.aio.Channel
    stub: events_pb2_grpc.PersonalizeEventsStub
    producer: RawProducer


async def start_world(stack: localstack.StackConfig, workdir: Path, prefix: str) -> World:
    procs, address, tracking_id, group_tag = await _put_events_world(stack, workdir, prefix)
    with storage.records(stack.kafka_bootstrap, prefix) as view:
        [group] = view.list("datasetGroup")
        inbound = topics.inbound_topic(prefix, group, "events")
    # Ingest's forwarder creates the group's inbound topics within a second of its record (never let a producer
    # auto-create one with the broker's default partitions).
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    ready_by = time.monotonic() + 30
    while inbound not in admin.list_topics(timeout=10).topics:
        if time.monotonic() > ready_by:
            raise RuntimeError(f"ingest did not create {inbound}")
        await asyncio.sleep(0.1)
    channel = aio_channel(address)
    producer = RawProducer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 0})
    return World(
        procs,
        tracking_id,
        rk.Keys(prefix, group_tag),
        inbound,
        channel,
        events_pb2_grpc.PersonalizeEventsStub(channel),
        producer,
    )


def _json_event(user: str, item: str, token: str) -> bytes:
    event = {"userId": user, "sessionId": f"s-{user}", "eventId": token, "eventType": "click", "itemId": item}
    return json.dumps({**event, "sentAt": time.time()}).encode()


async def freshness(
    world: World, redis: aioredis.Redis[bytes], source: str, rate: int, seconds: float, seed: int
) -> tuple[Row, dict[str, float]]:
    """``rate`` events/s for ``seconds`` through ``source`` ("putevents" or "inbound")."""
    vis = _Visibility()
    calls: set[asyncio.Task[None]] = set()
    in_flight = asyncio.Semaphore(64)
    rnd = random.Random(seed)

    async def put(n: int, user: str, item: str, token: str) -> None:
        event = events_pb2.Event(event_id=token, event_type="click", item_id=item, sent_at=time.time())
        request = events_pb2.PutEventsRequest(
            tracking_id=world.tracking_id, user_id=user, session_id=f"s-{user}", event_list=[event]
        )
        try:
            async with in_flight:
                vis.called_at[n] = time.monotonic()
                await world.stub.PutEvents(request, timeout=30)
        except grpc.aio.AioRpcError as err:
            vis.errors[str(err.code().name)] = vis.errors.get(str(err.code().name), 0) + 1
            return
        vis.acked[n] = time.monotonic()

    def acked(n: int) -> Callable[[KafkaError | None, Message], None]:
        def callback(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                vis.acked[n] = time.monotonic()

        return callback

    def send(n: int, user: str, item: str, token: str) -> None:
        if source == "putevents":
            task = asyncio.create_task(put(n, user, item, token))
            calls.add(task)
            task.add_done_callback(calls.discard)
        else:
            world.producer.produce(world.inbound, _json_event(user, item, token), user, on_delivery=acked(n))

    stream = world.procs[2]
    total = int(rate * seconds)
    cpu0, icpu0, rcpu0 = stream.cpu(), world.procs[1].cpu(), harness.redis_cpu(await redis.info("cpu"))
    start = time.monotonic()
    next_check = start
    while len(vis.visible) < total and time.monotonic() < start + seconds + 30:
        now = time.monotonic()
        due = min(total, int((now - start) * rate) + 1)
        while len(vis.targets) < due:
            user, item, token = f"u{rnd.randrange(1000)}", f"i{rnd.randrange(5000)}", new_event_id()
            member = rk.history_member(rk.event_token(token), item, "click", None)
            send(vis.add(world.keys.history(rk.user_subject(user)), member), user, item, token)
        world.producer.poll(0)
        if now >= next_check and vis.pending:
            next_check = now + 0.002
            await vis.poll(redis)
        await asyncio.sleep(0.0005)
    world.producer.flush(10)
    await asyncio.gather(*calls)
    cpu1, icpu1, rcpu1 = stream.cpu(), world.procs[1].cpu(), harness.redis_cpu(await redis.info("cpu"))
    from_ack = [max(0.0, vis.visible[n] - vis.acked[n]) for n in vis.visible if n in vis.acked]
    from_send = [vis.visible[n] - vis.sent_at[n] for n in vis.visible]
    if not from_ack:
        raise RuntimeError("no event became visible")
    seen = max(1, len(vis.visible))
    quantiles = {
        "p50_ack_ms": 1000 * harness.pct(from_ack, 0.50),
        "p99_ack_ms": 1000 * harness.pct(from_ack, 0.99),
        "max_ack_ms": 1000 * max(from_ack),
        "p50_send_ms": 1000 * harness.pct(from_send, 0.50),
        "p99_send_ms": 1000 * harness.pct(from_send, 0.99),
        "ingest_cpu_us": 1e6 * (icpu1 - icpu0) / seen,
        "lost": float(len(set(vis.acked) - set(vis.visible))),
        "failed": float(sum(vis.errors.values())),
    }
    span = max(vis.visible.values()) - start
    label = "PutEvents" if source == "putevents" else "inbound JSON"
    row = Row(
        f"freshness via {label} @ {rate}/s",
        len(vis.visible),
        span,
        len(vis.visible) / span,
        1e6 * (cpu1 - cpu0) / seen,
        1e6 * (rcpu1 - rcpu0) / seen,
    )
    return row, quantiles


async def backlog(
    world: World, redis: aioredis.Redis[bytes], source: str, events: int, deadline: float
) -> tuple[Row, float]:
    """A backlog of ``events`` through ``source``: events/s from the first applied to the last, stream CPU per
    event (the Row) and ingest CPU per event (returned beside it)."""
    stats = world.keys.stats()
    base = int(await redis.hget(stats, "records") or 0)
    rnd = random.Random(11)
    stream, ingest = world.procs[2], world.procs[1]
    cpu0, icpu0, rcpu0 = stream.cpu(), ingest.cpu(), harness.redis_cpu(await redis.info("cpu"))

    async def calls() -> None:
        pending: set[asyncio.Task[object]] = set()
        gate = asyncio.Semaphore(16)

        async def one(first: int) -> None:
            async with gate:
                batch = [
                    events_pb2.Event(
                        event_id=new_event_id(),
                        event_type="click",
                        item_id=f"i{rnd.randrange(5000)}",
                        sent_at=time.time(),
                    )
                    for _ in range(10)
                ]
                user = f"b{first % 1000}"
                request = events_pb2.PutEventsRequest(
                    tracking_id=world.tracking_id, user_id=user, session_id=f"s-{user}", event_list=batch
                )
                await world.stub.PutEvents(request, timeout=60)

        for first in range(0, events, 10):
            task = asyncio.create_task(one(first))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if len(pending) >= 64:
                await asyncio.sleep(0)
        await asyncio.gather(*pending)

    if source == "inbound":
        for i in range(events):
            user = f"b{i % 1000}"
            while True:
                try:
                    world.producer.produce(
                        world.inbound, _json_event(user, f"i{rnd.randrange(5000)}", new_event_id()), user
                    )
                    break
                except BufferError:
                    world.producer.poll(0.01)
        world.producer.flush(30)
        sender: asyncio.Task[None] | None = None
    else:
        sender = asyncio.create_task(calls())
    first_n, first_t, done_t = 0, 0.0, 0.0
    while time.monotonic() < deadline:
        n = int(await redis.hget(stats, "records") or 0) - base
        if n and not first_t:
            first_n, first_t = n, time.monotonic()
        if n >= events:
            done_t = time.monotonic()
            break
        await asyncio.sleep(0.02)
    if sender is not None:
        await sender
    if not done_t:
        raise RuntimeError(f"the {source} backlog was not applied in time")
    cpu1, icpu1, rcpu1 = stream.cpu(), ingest.cpu(), harness.redis_cpu(await redis.info("cpu"))
    counted, seconds = events - first_n, done_t - first_t
    label = "inbound JSON" if source == "inbound" else "PutEvents (10/call, 16 in flight)"
    row = Row(
        f"backlog via {label}, 1 stream worker",
        counted,
        seconds,
        counted / seconds,
        1e6 * (cpu1 - cpu0) / events,
        1e6 * (rcpu1 - rcpu0) / events,
    )
    return row, 1e6 * (icpu1 - icpu0) / events


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="events/s in the freshness runs")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of one freshness run")
    parser.add_argument("--repeats", type=int, default=3, help="freshness runs per source")
    parser.add_argument("--events", type=int, default=20_000, help="backlog per throughput run")
    budget_help = "seconds in all a backlog run may take (180 at least)"
    parser.add_argument("--budget", type=float, default=300.0, help=budget_help)
    args = parser.parse_args(argv)
    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"tailor-bench-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    deadline = time.monotonic() + args.budget
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    redis: aioredis.Redis[bytes] = aioredis.Redis.from_url(stack.redis_url)
    load_before = os.getloadavg()
    world = await start_world(stack, workdir, prefix)
    rows: list[Row] = []
    ingest_cpu: list[float] = []
    fresh: list[tuple[str, dict[str, float]]] = []
    try:
        # Warm up both paths: the pipeline is live once an event of each shows up in Redis.
        for source in ("putevents", "inbound"):
            await freshness(world, redis, source, 50, 1.0, seed=0)
        for run in range(args.repeats):
            for source in ("putevents", "inbound"):
                row, quantiles = await freshness(world, redis, source, args.rate, args.seconds, seed=run + 1)
                rows.append(row)
                ingest_cpu.append(quantiles["ingest_cpu_us"])
                label = "PutEvents returned" if source == "putevents" else "inbound produce acked"
                fresh.append((f"{label} (run {run + 1})", quantiles))
        for source in ("inbound", "putevents"):
            row, icpu = await backlog(world, redis, source, args.events, max(deadline, time.monotonic() + 180))
            rows.append(row)
            ingest_cpu.append(icpu)
    finally:
        await world.channel.close()
        world.producer.flush(10)
        for svc in world.procs:
            svc.stop()
        await wipe(redis, prefix)
        await close_redis(redis)
        localstack.purge_prefix(stack, prefix)  # the world's topics and consumer groups
    load_after = os.getloadavg()

    print(f"\ninbound JSON benchmark ({os.cpu_count()} CPUs, load average {load_before[0]:.1f} -> {load_after[0]:.1f})")
    _table(
        ("scenario", "events", "seconds", "events/s", "stream CPU us/ev", "ingest CPU us/ev", "Redis CPU us/ev"),
        [
            (
                r.scenario,
                str(r.events),
                f"{r.seconds:.2f}",
                f"{r.rate:.0f}",
                f"{r.worker_cpu_us:.1f}",
                f"{icpu:.1f}",
                f"{r.redis_cpu_us:.1f}",
            )
            for r, icpu in zip(rows, ingest_cpu, strict=True)
        ],
    )
    print("\nfreshness (acknowledged -> visible in the user's Redis history):")
    names = ("p50_ack_ms", "p99_ack_ms", "max_ack_ms", "p50_send_ms", "p99_send_ms", "lost", "failed")
    _table(
        ("from", "p50 ms", "p99 ms", "max ms", "p50 from send ms", "p99 from send ms", "acked, not seen", "failed"),
        [
            (label, *(f"{q[n]:.1f}" if n not in ("lost", "failed") else f"{q[n]:.0f}" for n in names))
            for label, q in fresh
        ],
    )
    print("goal: freshness p99 <= 250 ms")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
