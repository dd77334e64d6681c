"""The storage janitor: deletes the dataset topics and Redis state of deleted incarnations (ADR 0014).

Reconciliation, not one-shot jobs: every ``TAILOR_STREAM_JANITOR_INTERVAL_S`` a pass

1. lists what exists — the broker's dataset and inbound (ADR 0024) topics under the prefix, the Redis group
   tags (their offsets hashes every pass; every key of the prefix every ``TAILOR_STREAM_JANITOR_SWEEP_S``),
   and the fields of each group's offsets hash;
2. catches its resource view up with ``<prefix>.control.resources`` *after* listing (storage is only ever
   made once its record exists, so nothing just created can look dead), and does nothing at all when the
   resources topic holds nothing or the view cannot catch up;
3. deletes what belongs to no live incarnation (``tailor_shared.orphans``) once it has been dead for
   ``TAILOR_STREAM_JANITOR_GRACE_S``: dead topics first; a dead tag's keys once none of its topics is left
   (the offsets hash last); a live group's state derived from a deleted dataset (an offsets field of a
   dataset that is gone) by wiping the group's namespace, after which the processor replays its live topics.

Every step is idempotent and a crash midway only leaves work for the next pass (the offsets hash, deleted
last, is how the next pass finds a half-deleted namespace). Metrics: ``tailor_stream_janitor_deleted_total``
and ``tailor_stream_janitor_passes_total``; every deletion is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]
from mode import Service

from tailor_shared import orphans
from tailor_shared import redis_keys as rk
from tailor_shared.kafka import latest_offsets, shared_admin
from tailor_shared.redis_client import async_redis_from_url
from tailor_shared.resource_view import ResourceView
from tailor_shared.topics import parse_dataset_topic, parse_inbound_topic
from tailor_stream import metrics
from tailor_stream.attribution import delete_attribution_keys
from tailor_stream.config import StreamSettings
from tailor_stream.processor import StreamProcessor, close_redis, delete_group_keys

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    """What one pass saw and did (also what the tests look at)."""

    skipped: str | None = None
    dead_topics: list[str] = field(default_factory=list)
    dead_tags: list[str] = field(default_factory=list)
    stale_groups: list[str] = field(default_factory=list)
    deleted_topics: list[str] = field(default_factory=list)
    deleted_tags: list[str] = field(default_factory=list)
    deleted_keys: int = 0
    wiped_groups: list[str] = field(default_factory=list)


def list_topic_names(bootstrap: str) -> set[str]:
    return set(shared_admin(bootstrap).list_topics(timeout=30).topics)


def topic_records(bootstrap: str, names: list[str], timeout: float = 30.0) -> dict[str, int]:
    """Records on each topic now: the sum over its partitions of high minus low watermark."""
    if not names:
        return {}
    admin = shared_admin(bootstrap)
    metadata = admin.list_topics(timeout=timeout).topics
    partitions = [TopicPartition(n, p) for n in names if n in metadata for p in metadata[n].partitions]
    if not partitions:
        return {}
    earliest = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
    futures = admin.list_offsets({tp: earliest for tp in partitions}, request_timeout=timeout)
    low = {tp: futures[tp].result(timeout=timeout).offset for tp in partitions}
    high = latest_offsets(bootstrap, partitions, timeout)
    out = dict.fromkeys(names, 0)
    for tp in partitions:
        out[tp.topic] += max(0, high[tp] - low[tp])
    return out


def delete_topics(bootstrap: str, names: list[str], timeout: float = 30.0) -> list[str]:
    """Delete topics; returns those this call deleted (a topic already gone is no error)."""
    if not names:
        return []
    admin = shared_admin(bootstrap)
    done: list[str] = []
    for name, future in admin.delete_topics(names, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
            done.append(name)
        except KafkaException as err:
            if err.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
    return done


class StorageJanitor:
    """One pass at a time; ``run_pass`` is the unit the loop (and tests) call."""

    def __init__(
        self,
        settings: StreamSettings,
        view: ResourceView,
        redis: aioredis.Redis[bytes],
        processor: StreamProcessor | None = None,
    ) -> None:
        self.settings = settings
        self.prefix = settings.common.topic_prefix
        self.bootstrap = settings.common.kafka_bootstrap
        self.view = view
        self.redis = redis
        self.processor = processor
        self._topics = orphans.Grace(settings.janitor_grace_s)
        self._tags = orphans.Grace(settings.janitor_grace_s)
        self._stale = orphans.Grace(settings.janitor_grace_s)
        self._next_sweep = 0.0
        self._key_counts: dict[str, int] = {}  # keys per group tag, from the last full sweep
        self._reported: set[str] = set()

    async def _tags_now(self) -> set[str]:
        now = time.monotonic()
        if now >= self._next_sweep:  # every key of the prefix: finds namespaces whatever is left of them
            self._next_sweep = now + self.settings.janitor_sweep_s
            pattern = f"{self.prefix}:{{*"
        else:  # every namespace the stream wrote has an offsets hash, deleted last
            pattern = f"{self.prefix}:{{*}}:offsets"
        sweeping = pattern.endswith("{*")
        tags: set[str] = set()
        counts: dict[str, int] = {}
        async for key in self.redis.scan_iter(match=pattern, count=1000):
            tag = orphans.tag_of_key(self.prefix, key.decode() if isinstance(key, bytes) else key)
            if tag is not None:
                tags.add(tag)
                counts[tag] = counts.get(tag, 0) + 1
        if sweeping:
            self._key_counts = counts
        return tags

    async def _offsets_fields(self, tags: set[str]) -> dict[str, list[str]]:
        order = sorted(tags)
        if not order:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for tag in order:
            pipe.hkeys(rk.Keys(self.prefix, tag).offsets())
        replies = await pipe.execute()
        return {
            tag: [f.decode() if isinstance(f, bytes) else str(f) for f in fields]
            for tag, fields in zip(order, replies, strict=True)
        }

    async def run_pass(self) -> PassReport:
        report = PassReport()
        # 1. What exists (before the view catches up: see the module docstring).
        names = await asyncio.to_thread(list_topic_names, self.bootstrap)
        dataset_topics = {n for n in names if parse_dataset_topic(self.prefix, n) is not None}
        inbound_topics = {n for n in names if parse_inbound_topic(self.prefix, n) is not None}
        tags = await self._tags_now()
        fields = await self._offsets_fields(tags)
        # 2. The view, caught up; never judge from an empty or stale one.
        try:
            await asyncio.to_thread(self.view.catch_up)
        except Exception as err:  # the view cannot catch up: judge nothing
            report.skipped = f"resource view not caught up: {err}"
            return report
        if self.view.consumed_offset < 0:
            report.skipped = "no resource records"
            return report
        now = time.monotonic()
        # 3a. Dead topics.
        report.dead_topics = orphans.dead_dataset_topics(self.prefix, dataset_topics, self.view)
        report.dead_topics += orphans.dead_inbound_topics(self.prefix, inbound_topics, self.view)  # ADR 0024
        due = self._topics.due(report.dead_topics, now)
        if due:
            report.deleted_topics = await asyncio.to_thread(delete_topics, self.bootstrap, due)
            for name in report.deleted_topics:
                metrics.JANITOR_DELETED.labels("topic").inc()
                log.info("janitor: deleted the topic of a deleted dataset", extra={"topic": name})
        tags_with_topics = {orphans.group_tag_of_topic(self.prefix, n) for n in dataset_topics}
        # 3b. Dead tags: once none of their topics is left (the stream could replay them into the tag).
        report.dead_tags = orphans.dead_group_tags(self.prefix, tags, self.view)
        for tag in self._tags.due(report.dead_tags, now):
            if tag in tags_with_topics:
                continue
            deleted = await delete_group_keys(self.redis, rk.Keys(self.prefix, tag))
            deleted += await delete_attribution_keys(self.redis, rk.Keys(self.prefix, tag))
            self._tags.forget(tag)
            report.deleted_tags.append(tag)
            report.deleted_keys += deleted
            metrics.JANITOR_DELETED.labels("redis_key").inc(deleted)
            log.info("janitor: deleted a deleted dataset group's Redis keys", extra={"tag": tag, "keys": deleted})
        # 3c. Live groups holding state of a deleted dataset.
        live = orphans.live_group_tags(self.prefix, self.view)
        dead_topic_tags = {orphans.group_tag_of_topic(self.prefix, n) for n in report.dead_topics}
        stale: list[str] = []
        for tag, group in live.items():
            if tag in fields and orphans.stale_offsets_fields(self.prefix, group, fields[tag], self.view):
                stale.append(tag)
        report.stale_groups = stale
        await self._report_usage(live, dataset_topics - set(report.dead_topics))
        for tag in self._stale.due(stale, now):
            if tag in dead_topic_tags:
                continue  # a dead topic of the group was still listed: it goes first (the stream could replay it)
            deleted = await self._wipe(tag)
            self._stale.forget(tag)
            report.wiped_groups.append(tag)
            report.deleted_keys += deleted
            metrics.JANITOR_DELETED.labels("redis_key").inc(deleted)
            metrics.JANITOR_DELETED.labels("group_state").inc()
            log.info(
                "janitor: wiped a dataset group's state derived from a deleted dataset; replaying its live topics",
                extra={"tag": tag, "keys": deleted},
            )
        return report

    async def _report_usage(self, live: dict[str, Any], live_topics: set[str]) -> None:
        """The storage each live dataset group uses, as gauges; a deleted group's series are removed."""
        records = await asyncio.to_thread(topic_records, self.bootstrap, sorted(live_topics))
        per_group = dict.fromkeys(live, 0)
        for topic, n in records.items():
            tag = orphans.group_tag_of_topic(self.prefix, topic)
            if tag in per_group:
                per_group[tag] += n
        for tag, n in per_group.items():
            metrics.GROUP_RECORDS.labels(tag).set(n)
            metrics.GROUP_REDIS_KEYS.labels(tag).set(self._key_counts.get(tag, 0))
        for tag in self._reported - set(per_group):
            for gauge in (metrics.GROUP_RECORDS, metrics.GROUP_REDIS_KEYS):
                with contextlib.suppress(KeyError):
                    gauge.remove(tag)
        self._reported = set(per_group)

    async def _wipe(self, tag: str) -> int:
        if self.processor is not None:
            return await self.processor.wipe_group(tag)
        return await delete_group_keys(self.redis, rk.Keys(self.prefix, tag))

    async def run(self, stopping: asyncio.Event) -> None:
        interval = self.settings.janitor_interval_s
        while not stopping.is_set():
            try:
                report = await self.run_pass()
                metrics.JANITOR_PASSES.labels("skipped" if report.skipped else "ok").inc()
                if report.skipped:
                    log.info("janitor pass skipped", extra={"reason": report.skipped})
            except Exception as err:  # Kafka or Redis unreachable: the next pass tries again
                metrics.JANITOR_PASSES.labels("error").inc()
                log.warning("janitor pass failed", extra={"error": repr(err)})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)


class JanitorService(Service):
    """Runs the janitor in the stream worker, once the processor (its view and Redis) is up. Off when
    ``TAILOR_STREAM_JANITOR_INTERVAL_S`` is 0. Stopping lets a running pass finish (or gives up after 10 s:
    a pass cut short only leaves work for the next start) before its Redis connection is closed."""

    def __init__(self, settings: StreamSettings, processor: StreamProcessor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.processor = processor
        self._stopping = asyncio.Event()
        self._redis: aioredis.Redis[bytes] | None = None
        self._task: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        if self.settings.janitor_interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="storage-janitor")

    async def _run(self) -> None:
        while self.processor.resources is None or self.processor.applier is None:
            if self._stopping.is_set():
                return
            await asyncio.sleep(0.2)
        self._redis = async_redis_from_url(self.settings.common.redis_url)
        janitor = StorageJanitor(self.settings, self.processor.resources, self._redis, self.processor)
        await janitor.run(self._stopping)

    async def on_stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 10.0)
            except Exception:  # TimeoutError included
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        if self._redis is not None:
            await close_redis(self._redis)
