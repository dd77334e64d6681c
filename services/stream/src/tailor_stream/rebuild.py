"""``python -m tailor_stream rebuild``: wipe the stream's Redis state and replay Kafka into it.

Kafka is the record; Redis is derived (DESIGN principle 1). The command deletes every key of the prefix (or
of one dataset group), the offsets hashes first, then reads every dataset topic from the beginning up to
the end offsets it saw at start and applies it with the worker's own code. Running workers may stay up: the
vanished watermarks make their next Lua call apply nothing and they replay too, and the per-partition
watermark check lets the two replays interleave without applying any record twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka.admin import AdminClient

from tailor_shared import redis_keys as rk
from tailor_shared.kafka import Producer, kafka_config
from tailor_shared.redis_client import async_redis_from_url
from tailor_shared.resource_view import ResourceView
from tailor_shared.resources import ResourceReader
from tailor_stream.config import StreamSettings
from tailor_stream.domain import parse_dataset_topic
from tailor_stream.processor import Applier, Resolver, close_redis, consumer_config, dataset_topics_regex

log = logging.getLogger(__name__)


async def wipe(redis: aioredis.Redis[bytes], prefix: str, dataset_group: str | None = None) -> int:
    """Delete the stream state (offsets hashes first, so workers stop writing at once); returns keys deleted."""
    if dataset_group is not None:
        keys = rk.Keys(prefix, dataset_group)
        offsets: list[bytes | str] = [keys.offsets()]
        pattern = keys.pattern()
    else:
        offsets = [k async for k in redis.scan_iter(match=f"{prefix}:{{*}}:offsets", count=1000)]
        pattern = rk.prefix_pattern(prefix)
    deleted = int(await redis.unlink(*offsets)) if offsets else 0
    chunk: list[bytes] = []
    async for key in redis.scan_iter(match=pattern, count=1000):
        chunk.append(key)
        if len(chunk) >= 1000:
            deleted += int(await redis.unlink(*chunk))
            chunk.clear()
    if chunk:
        deleted += int(await redis.unlink(*chunk))
    return deleted


def dataset_partitions(bootstrap: str, prefix: str, dataset_group: str | None) -> list[TopicPartition]:
    """Every partition of the prefix's dataset topics (of one dataset group if given: its storage name,
    ``redis_keys.group_tag``), from cluster metadata.
    Metadata with a topic in error (a broker restarting) is asked again: a rebuild must not skip a topic."""
    pattern = re.compile(dataset_topics_regex(prefix))
    admin = AdminClient(kafka_config(bootstrap))
    for attempt in range(10):
        metadata = admin.list_topics(timeout=30)
        out: list[TopicPartition] = []
        incomplete = False
        for name in sorted(metadata.topics):
            parsed = parse_dataset_topic(prefix, name)
            if not pattern.match(name) or parsed is None:
                continue
            if dataset_group is not None and parsed.group_tag != dataset_group:
                continue
            topic = metadata.topics[name]
            if topic.error is not None or not topic.partitions:
                incomplete = True
            out.extend(TopicPartition(name, p) for p in sorted(topic.partitions))
        if not incomplete:
            return out
        time.sleep(0.5 * (attempt + 1))
    raise RuntimeError("cluster metadata kept reporting errors for dataset topics")


def live_group_tag(view: ResourceReader, prefix: str, name: str) -> str:
    """The storage name (``Keys.dataset_group``) of the live dataset group called ``name``: its incarnation's
    keys and topics (ADR 0012); ``name`` itself when there is none (a legacy group's tag is its name)."""
    group = next((g for g in view.list("datasetGroup") if g.body.get("name") == name), None)
    return name if group is None else rk.Keys.for_group(prefix, group).dataset_group


@dataclass(frozen=True)
class RebuildReport:
    deleted_keys: int
    partitions: int
    records: int
    seconds: float


async def rebuild(
    settings: StreamSettings, dataset_group: str | None = None, *, wipe_first: bool = True
) -> RebuildReport:
    common = settings.common
    prefix = common.topic_prefix
    started = time.monotonic()
    redis = async_redis_from_url(common.redis_url)
    view = ResourceView(common.kafka_bootstrap, prefix)
    await asyncio.to_thread(view.start)
    producer = Producer(common.kafka_bootstrap)
    consumer = AIOKafkaConsumer(**consumer_config(settings, None))
    try:
        await view.ready()
        if dataset_group is not None:
            dataset_group = live_group_tag(view, prefix, dataset_group)
        deleted = await wipe(redis, prefix, dataset_group) if wipe_first else 0
        await consumer.start()
        tps = await asyncio.to_thread(dataset_partitions, common.kafka_bootstrap, prefix, dataset_group)
        if not tps:
            return RebuildReport(deleted, 0, 0, time.monotonic() - started)
        consumer.assign(tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        applier = Applier(settings, redis, Resolver(view), producer, consumer)
        await applier.load_script()
        await applier.resync(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        records = 0
        while pending:
            polled = await consumer.getmany(*pending, timeout_ms=500, max_records=settings.batch_max)
            polled = {tp: [m for m in msgs if m.offset < ends[tp]] for tp, msgs in polled.items()}
            records += sum(len(msgs) for msgs in polled.values())
            await applier.process(polled)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return RebuildReport(deleted, len(tps), records, time.monotonic() - started)
    finally:
        await consumer.stop()
        producer.close(5.0)
        view.stop()
        await close_redis(redis)
