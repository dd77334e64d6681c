"""The stream processor against the real Kafka and Redis: the state it writes equals the reference model,
it follows new dataset groups, dead-letters bad records, skips replays and rebuilds a wiped Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from confluent_kafka import Consumer
from prometheus_client import REGISTRY

from tailor_shared import redis_keys as rk
from tailor_shared.kafka import OutgoingRecord, ensure_topics
from tailor_shared.records import new_event_id
from tailor_shared.topics import dataset_topic_spec, dead_letter_topic
from tailor_stream import metrics  # noqa: F401  (registers the metrics)
from tailor_stream.config import StreamSettings
from tailor_stream.model import Snapshot
from tailor_stream.processor import StreamProcessor, close_redis
from tailor_stream.rebuild import wipe
from tailor_stream.snapshot import diff, read_snapshot
from tailor_tools import localstack
from tailor_tools import workload as wl
from tests.support import stream_oracle as oracle

pytestmark = pytest.mark.integration

Start = Callable[[], Awaitable[StreamProcessor]]


@pytest.fixture
async def redis(stack: localstack.StackConfig, topic_prefix: str) -> AsyncIterator[aioredis.Redis[bytes]]:
    client: aioredis.Redis[bytes] = aioredis.Redis.from_url(stack.redis_url)
    yield client
    await wipe(client, topic_prefix)
    await close_redis(client)


@pytest.fixture
def settings(stack: localstack.StackConfig, topic_prefix: str) -> StreamSettings:
    return StreamSettings.from_env(
        {
            "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "TAILOR_REDIS_URL": stack.redis_url,
            "TAILOR_TOPIC_PREFIX": topic_prefix,
            "TAILOR_STREAM_TOPIC_REFRESH_MS": "500",
            "TAILOR_STREAM_CHECK_INTERVAL_S": "0.3",
            "TAILOR_STREAM_SCRIPT_RECORDS": "97",  # several Lua calls per poll
        }
    )


@pytest.fixture
async def start(settings: StreamSettings) -> AsyncIterator[Start]:
    started: list[StreamProcessor] = []

    async def _start() -> StreamProcessor:
        processor = StreamProcessor(settings)
        await processor.start()
        started.append(processor)
        return processor

    yield _start
    for processor in started:
        await processor.stop()


async def wait_applied(
    redis: aioredis.Redis[bytes],
    stack: localstack.StackConfig,
    prefix: str,
    topics: list[str],
    processor: StreamProcessor,
) -> None:
    """Until every record now on the topics is applied (the offsets hashes reached the end offsets)."""
    expected = await asyncio.to_thread(
        lambda: oracle.expected_offsets(prefix, wl.high_watermarks(stack.kafka_bootstrap, topics))
    )
    deadline = time.monotonic() + 60
    got: dict[str, dict[str, str]] = {}
    while time.monotonic() < deadline:
        assert processor.failed is None, processor.failed
        got = {}
        for key, fields in expected.items():
            stored = {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}
            got[key] = {f: stored.get(f, "") for f in fields}
        if got == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not applied in time: {got} != {expected}")


def sample(name: str, **labels: str) -> float:
    """A metric of this process (the processors run in-process here)."""
    return REGISTRY.get_sample_value(f"tailor_stream_{name}", labels) or 0.0


def without_offsets(snapshot: Snapshot) -> Snapshot:
    return {k: v for k, v in snapshot.items() if not k.endswith(":offsets")}


async def test_state_equals_the_reference_model_and_new_dataset_groups_are_followed(
    stack: localstack.StackConfig, topic_prefix: str, redis: aioredis.Redis[bytes], start: Start
) -> None:
    now = int(time.time())
    shop = wl.DatasetGroup(topic_prefix, "shop")
    shop.create(stack.kafka_bootstrap)
    records = wl.to_records(shop, list(wl.mixed_workload(11, 1500, now)))
    wl.produce(stack.kafka_bootstrap, records)
    processor = await start()
    await wait_applied(redis, stack, topic_prefix, [shop.topic(t) for t in wl.SCHEMAS], processor)

    got = without_offsets(await read_snapshot(redis, topic_prefix, "shop"))
    want = oracle.reference_snapshot(shop, records, processor.settings.ops, now)
    assert got == want, "\n".join(diff(got, want))
    stats = got[rk.Keys(topic_prefix, "shop").stats()][1]
    assert int(stats["duplicates"]) > 0 and int(stats["action_events"]) > 0

    # The runtime's read: one pipeline for everything about one user.
    keys = rk.Keys(topic_prefix, "shop")
    user = next(k.split(":")[3] for k in got if k.endswith(":h") and ":u:" in k)
    pipe = redis.pipeline(transaction=False)
    for command in rk.user_state_commands(keys, user, ["click", "watch"]):
        pipe.execute_command(*command)
    state = rk.parse_user_state(await pipe.execute(), ["click", "watch"])
    assert state.history and state.metadata.get("AGE") and state.any_type_items

    # A dataset group created while the worker runs: its topics match the pattern and are consumed.
    late = wl.DatasetGroup(topic_prefix, "late-group")
    late.create(stack.kafka_bootstrap)
    late_records = [
        late.record("Interactions", wl.interaction_row("u1", f"i{n}", now - 10 + n, "click"), event_id=new_event_id())
        for n in range(5)
    ]
    wl.produce(stack.kafka_bootstrap, late_records)
    await wait_applied(redis, stack, topic_prefix, [late.topic("Interactions")], processor)
    history = await redis.zrange(rk.Keys(topic_prefix, "late-group").history(rk.user_subject("u1")), 0, -1)
    assert [rk.parse_history_member(m, 0).item_id for m in history] == [f"i{n}" for n in range(5)]


async def test_bad_records_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    stack: localstack.StackConfig, topic_prefix: str, redis: aioredis.Redis[bytes], start: Start
) -> None:
    now = int(time.time())
    shop = wl.DatasetGroup(topic_prefix, "shop")
    shop.create(stack.kafka_bootstrap)
    # A looser Interactions schema (ITEM_ID optional), registered but not any dataset's: its rows decode but
    # don't fit an Interactions dataset.
    loose = dict(wl.SCHEMAS["Interactions"])
    loose["fields"] = [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": ["null", "string"], "default": None},
        {"name": "TIMESTAMP", "type": "long"},
    ]
    odd = wl.DatasetGroup(topic_prefix, "shop-loose", schemas={**wl.SCHEMAS, "Interactions": loose})
    schema = next(r for r in odd.resources() if r.arn == odd.schema_arns["Interactions"])
    wl.publish_resources(stack.kafka_bootstrap, topic_prefix, [schema])
    ghost_topic = f"{topic_prefix}.ghost.interactions"
    ensure_topics(stack.kafka_bootstrap, [dataset_topic_spec(topic_prefix, "ghost", "Interactions")])
    good_row = wl.interaction_row("u1", "i1", now, "click")
    bad = [
        OutgoingRecord(shop.topic("Interactions"), b"\xff\x00garbage", b"u1", [("tailor-schema-fp", b"0" * 16)]),
        OutgoingRecord(shop.topic("Interactions"), b"\x02u1", b"u1", []),
        odd.record("Interactions", {"USER_ID": "u1", "ITEM_ID": None, "TIMESTAMP": now}),
        shop.record("Users", {"USER_ID": "u9", "MEMBERSHIP": None, "AGE": None}),  # a Users row ...
        shop.record("Interactions", good_row),  # ... and an event of a dataset group nobody created
    ]
    bad[2] = OutgoingRecord(shop.topic("Interactions"), bad[2].value, bad[2].key, bad[2].headers)
    bad[3] = OutgoingRecord(shop.topic("Items"), bad[3].value, bad[3].key, bad[3].headers)
    bad[4] = OutgoingRecord(ghost_topic, bad[4].value, bad[4].key, bad[4].headers)
    before = {r: sample("dead_letters_total", reason=r) for r in _REASONS}
    wl.produce(stack.kafka_bootstrap, [*bad, shop.record("Interactions", good_row, event_id="ok")])
    processor = await start()
    await wait_applied(redis, stack, topic_prefix, [shop.topic("Interactions"), ghost_topic], processor)
    assert await redis.zcard(rk.Keys(topic_prefix, "shop").history(rk.user_subject("u1"))) == 1

    letters = await asyncio.to_thread(_read_all, stack.kafka_bootstrap, dead_letter_topic(topic_prefix), len(bad))
    reasons = sorted(dict(h)["tailor-dlq-reason"].decode() for h in letters)
    assert reasons == sorted(_REASONS)
    for headers in letters:
        h = dict(headers)
        assert h["tailor-dlq-error"] and h["tailor-dlq-topic"] and h["tailor-dlq-offset"]
    after = {r: sample("dead_letters_total", reason=r) for r in _REASONS}
    assert all(after[r] - before[r] == 1 for r in _REASONS), (before, after)


_REASONS = ["unknown-schema", "undecodable", "schema-mismatch", "dataset-mismatch", "unknown-dataset-group"]


def _read_all(bootstrap: str, topic: str, count: int) -> list[list[tuple[str, bytes]]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": new_event_id(), "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    out: list[list[tuple[str, bytes]]] = []
    deadline = time.monotonic() + 30
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                pairs: list[Any] = list(msg.headers() or [])
                out.append([(str(p[0]), bytes(p[1])) for p in pairs if isinstance(p[1], bytes)])
    finally:
        consumer.close()
    return out


async def test_replays_change_nothing_and_a_wiped_redis_is_rebuilt(
    stack: localstack.StackConfig, topic_prefix: str, redis: aioredis.Redis[bytes], start: Start
) -> None:
    now = int(time.time())
    shop = wl.DatasetGroup(topic_prefix, "shop")
    shop.create(stack.kafka_bootstrap)
    records = wl.to_records(shop, list(wl.mixed_workload(5, 800, now)))
    wl.produce(stack.kafka_bootstrap, records)
    processor = await start()
    topics = [shop.topic(t) for t in wl.SCHEMAS]
    await wait_applied(redis, stack, topic_prefix, topics, processor)
    before = await read_snapshot(redis, topic_prefix)

    # Replay: the consumer goes back to the beginning (as after losing its position); every record is
    # skipped by the watermark check, nothing is counted twice.
    replayed_before = sample("events_processed_total", outcome="replayed")
    assert processor.applier is not None and processor._consumer is not None
    async with processor.lock:
        for tp in processor._consumer.assignment():
            processor._consumer.seek(tp, 0)
    deadline = time.monotonic() + 30
    while sample("events_processed_total", outcome="replayed") - replayed_before < len(records):
        assert time.monotonic() < deadline, "replay not seen"
        await asyncio.sleep(0.05)
    assert await read_snapshot(redis, topic_prefix) == before

    # An idle processor commits nothing new: an unchanged commit would be a broker write every 5 s.
    await processor._commit()
    commits: list[object] = []
    real_commit = processor._consumer.commit

    async def counted(*args: Any, **kwargs: Any) -> None:
        commits.append(args)
        await real_commit(*args, **kwargs)

    processor._consumer.commit = counted
    await processor._commit()
    assert commits == []

    # Wipe: the worker finds its watermarks gone and replays every partition from the beginning.
    rewinds = sample("state_rewinds_total")
    await wipe(redis, topic_prefix)
    deadline = time.monotonic() + 60
    after: Snapshot = {}
    while time.monotonic() < deadline:
        after = await read_snapshot(redis, topic_prefix)
        if after == before:
            break
        await asyncio.sleep(0.1)
    assert after == before, "\n".join(diff(after, before))
    assert sample("state_rewinds_total") > rewinds


async def test_a_redis_that_went_back_is_caught_up_from_its_stored_watermarks(
    stack: localstack.StackConfig, topic_prefix: str, redis: aioredis.Redis[bytes], start: Start
) -> None:
    """A failover to a replica that missed the last acknowledged writes (ADR 0025 §9), played by rolling the
    stream's keys back to a copy taken earlier in one transaction: the worker notices the watermarks went back,
    replays from them (not from the beginning) and ends with every record counted once."""
    now = int(time.time())
    shop = wl.DatasetGroup(topic_prefix, "shop")
    shop.create(stack.kafka_bootstrap)
    topics = [shop.topic(t) for t in wl.SCHEMAS]
    records = wl.to_records(shop, list(wl.mixed_workload(5, 600, now)))
    half = len(records) // 2
    wl.produce(stack.kafka_bootstrap, records[:half])
    processor = await start()
    await wait_applied(redis, stack, topic_prefix, topics, processor)
    keys = [k async for k in redis.scan_iter(match=rk.prefix_pattern(topic_prefix), count=1000)]
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
        pipe.pttl(key)
    replies = await pipe.execute()
    earlier = list(zip(keys, replies[0::2], replies[1::2], strict=True))

    wl.produce(stack.kafka_bootstrap, records[half:])
    await wait_applied(redis, stack, topic_prefix, topics, processor)
    want = oracle.reference_snapshot(shop, records, processor.settings.ops, now)
    assert without_offsets(await read_snapshot(redis, topic_prefix, "shop")) == want

    rewinds = sample("state_rewinds_total")
    now_keys = [k async for k in redis.scan_iter(match=rk.prefix_pattern(topic_prefix), count=1000)]
    rollback = redis.pipeline(transaction=True)
    rollback.delete(*now_keys)
    for key, blob, ttl in earlier:
        rollback.restore(key, max(int(ttl), 0), blob, replace=True)
    await rollback.execute()
    assert without_offsets(await read_snapshot(redis, topic_prefix, "shop")) != want

    deadline = time.monotonic() + 60
    got: Snapshot = {}
    while time.monotonic() < deadline:
        got = without_offsets(await read_snapshot(redis, topic_prefix, "shop"))
        if got == want:
            break
        await asyncio.sleep(0.1)
    assert got == want, "\n".join(diff(got, want))
    await wait_applied(redis, stack, topic_prefix, topics, processor)
    assert sample("state_rewinds_total") == rewinds, "replayed from the beginning instead of the stored watermarks"
