"""The stream's I/O shell: consume the dataset topics, apply batches to Redis, dead-letter bad records.

Why its own aiokafka consumer instead of a Faust agent (ADR 0007): Faust subscribes only to named topics
(its aiokafka driver says "pattern does not work"), so it cannot follow dataset groups created at run time;
``stream.take`` acks records before the agent has processed them; and exactly-once here comes from keeping
each partition's offset *in Redis*, written by the same Lua call as the state, which needs control over
seeking. Faust still hosts the worker: lifecycle, signals, logging and the /health and /metrics pages.

Position rule: on assignment every partition is seeked to ``watermark + 1`` from Redis, or to the beginning
when Redis holds no watermark (a new dataset group, a first start, or a wiped Redis: the automatic rebuild).
Kafka commits are made too, but only so that standard lag tools see progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tailor_shared import generations
from tailor_shared import redis_keys as rk
from tailor_shared.avro import AvroCodec
from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.incarnation import incarnation_of
from tailor_shared.kafka import BACKGROUND_IDLE_POLL_S, OutgoingRecord, Producer, ensure_topics
from tailor_shared.records import SchemaCodecs, decode_record
from tailor_shared.redis_client import async_redis_from_url
from tailor_shared.resource_view import ResourceView
from tailor_shared.resources import ResourceReader
from tailor_shared.topics import (
    DATASET_KINDS,
    H_DATASET_ARN,
    H_DLQ_ERROR,
    H_DLQ_OFFSET,
    H_DLQ_PARTITION,
    H_DLQ_REASON,
    H_DLQ_TOPIC,
    dataset_topic_pattern,
    dead_letter_topic,
    dead_letter_topic_spec,
)
from tailor_stream import metrics
from tailor_stream.config import StreamSettings
from tailor_stream.domain import (
    BadRecord,
    Batch,
    BatchResult,
    DatasetTopic,
    Kind,
    Op,
    TopicPartitionState,
    build_op,
    field_kinds,
    parse_dataset_topic,
)
from tailor_stream.lua import APPLY_BATCH_LUA, decode_result, encode_batch

log = logging.getLogger(__name__)


async def close_redis(client: aioredis.Redis[bytes]) -> None:
    """``aclose`` is redis-py 5+'s name; the type stubs still only know the deprecated ``close``."""
    await client.aclose()  # type: ignore[attr-defined]


async def delete_group_keys(redis: aioredis.Redis[bytes], keys: rk.Keys, chunk: int = 1000) -> int:
    """Delete every key of a group tag, the offsets hash last (the "state exists" marker, ADR 0007): a crash
    midway leaves it, so whoever resumes still finds the namespace. Returns the number of keys deleted."""
    offsets = keys.offsets().encode()
    deleted = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=keys.pattern(), count=chunk):
        if key == offsets:
            continue
        batch.append(key)
        if len(batch) >= chunk:
            deleted += int(await redis.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(await redis.unlink(*batch))
    return deleted + int(await redis.unlink(offsets))


def dataset_topics_regex(prefix: str) -> str:
    """One pattern for every dataset type's topic of every dataset group under the prefix."""
    return "|".join(f"(?:{dataset_topic_pattern(prefix, t)})" for t in DATASET_KINDS)


def offsets_field(topic: DatasetTopic, partition: int) -> str:
    """``<suffix>.<datasetIncarnation>:<partition>``, or ``<suffix>:<partition>`` for a legacy dataset: a
    dataset created again in the same group has a new topic, read from its beginning (ADR 0012)."""
    if topic.dataset_incarnation is None:
        return f"{topic.suffix}:{partition}"
    return f"{topic.suffix}.{topic.dataset_incarnation}:{partition}"


class Resolver:
    """Answers, from the control-plane resource view, what a record needs: does its dataset group exist,
    which codec decodes it, how its fields are indexed, does its dataset belong where it was written."""

    def __init__(self, resources: ResourceReader) -> None:
        self._resources = resources
        self.codecs = SchemaCodecs(resources)
        self._groups: dict[tuple[str, str | None], str] = {}
        self._groups_at: int | None = None
        self._live: dict[tuple[str, str, str | None], bool] = {}
        self._checked: set[tuple[str, str, str]] = set()
        self._kinds: dict[str, dict[str, Kind]] = {}
        self._dead: set[str] = set()  # topics judged dead after a catch-up of the view
        self._held: dict[str, bool] = {}  # group ARN -> a data deletion job holds it (ADR 0015)

    def _view_position(self) -> int:
        """Changes whenever the view applied something new (a ResourceView's offset; a fake's size)."""
        position = getattr(self._resources, "consumed_offset", None)
        if position is None:
            position = len(self._resources) if isinstance(self._resources, Sized) else -1
        return int(position)

    def _refresh(self) -> None:
        """Re-read the live groups whenever the view moved (a group deleted or created, ADR 0012)."""
        position = self._view_position()
        if position == self._groups_at:
            return
        self._groups = {
            (str(r.body.get("name")), incarnation_of(r)): r.arn for r in self._resources.list("datasetGroup")
        }
        self._live.clear()
        self._held.clear()
        self._groups_at = position

    def dataset_group_arn(self, name: str, incarnation: str | None = None) -> str | None:
        """The ARN of the live dataset group named ``name`` whose incarnation is ``incarnation`` (None: a
        legacy group); None when there is none (not yet in the view, or a deleted incarnation's topic)."""
        self._refresh()
        return self._groups.get((name, incarnation))

    def dataset_live(self, group_arn: str, topic: DatasetTopic) -> bool:
        """Is ``topic`` the topic of the group's current dataset of its type: is that dataset in the view with
        the topic's dataset incarnation (None for a legacy topic: a dataset record without one)? The topic of
        a deleted dataset, or of one created again since, is dead (ADR 0012)."""
        self._refresh()
        key = (group_arn, topic.dataset_type, topic.dataset_incarnation)
        live = self._live.get(key)
        if live is None:
            datasets = [
                d
                for d in self._resources.list("dataset", group_arn)
                if str(d.body.get("datasetType", "")).casefold() == topic.dataset_type.casefold()
            ]
            live = any(incarnation_of(d) == topic.dataset_incarnation for d in datasets)
            self._live[key] = live
        return live

    def live(self, topic: DatasetTopic) -> bool:
        """Is ``topic`` the topic of a live dataset incarnation (its group's and its own)?"""
        group_arn = self.dataset_group_arn(topic.dataset_group, topic.group_incarnation)
        return group_arn is not None and self.dataset_live(group_arn, topic)

    async def confirm_dead(self, names: Sequence[tuple[str, DatasetTopic]]) -> None:
        """Before a record is dead-lettered because its topic belongs to no live incarnation, make sure the view
        is not merely behind (a group or dataset created a moment ago): catch it up with the resources topic
        once, then judge again (ADR 0014). After a catch-up a dead topic stays dead (incarnations are never
        reused), so each one costs one catch-up per process at most."""
        unknown = [name for name, topic in names if name not in self._dead and not self.live(topic)]
        if not unknown:
            return
        catch_up = getattr(self._resources, "catch_up", None)
        if catch_up is not None:
            try:
                await asyncio.to_thread(catch_up)
            except ServiceUnavailableException:
                raise
            except Exception as err:  # Kafka unreachable: retry the batch later rather than judge from a stale view
                raise ServiceUnavailableException(f"resource view cannot catch up: {err!r}") from None
        for name, topic in names:
            if name in unknown and not self.live(topic):
                self._dead.add(name)

    def held(self, topic: DatasetTopic) -> bool:
        """Is a data deletion job rewriting this topic's dataset group (ADR 0015)? Then nothing of the group is
        applied until it finished: its new topics are being written and its state is rebuilt from them."""
        group_arn = self.dataset_group_arn(topic.dataset_group, topic.group_incarnation)
        if group_arn is None:
            return False
        held = self._held.get(group_arn)
        if held is None:
            held = self._held[group_arn] = generations.group_held(self._resources, group_arn)
        return held

    def retired(self, topic: DatasetTopic) -> bool:
        """Was this the topic of a dataset generation that a data deletion job replaced (ADR 0015)? Its records
        are in the new generation (or were erased): never replay it."""
        group_arn = self.dataset_group_arn(topic.dataset_group, topic.group_incarnation)
        if group_arn is None or topic.dataset_incarnation is None:
            return False
        return topic.dataset_incarnation in generations.retired_incarnations(self._resources, group_arn) and not (
            self.dataset_live(group_arn, topic)
        )

    def kinds(self, fingerprint: str) -> dict[str, Kind]:
        kinds = self._kinds.get(fingerprint)
        if kinds is None:
            for record in self._resources.list("schema"):
                schema = record.body.get("schema")
                if schema is None:
                    continue
                codec = AvroCodec(schema)
                if codec.fingerprint not in self._kinds:
                    self._kinds[codec.fingerprint] = field_kinds(schema)
            kinds = self._kinds.setdefault(fingerprint, {})
        return kinds

    def check_dataset(self, dataset_arn: str | None, group_arn: str, dataset_type: str) -> None:
        """A record naming a known dataset of another group or type was written to the wrong topic."""
        if not dataset_arn or (dataset_arn, group_arn, dataset_type) in self._checked:
            return
        dataset = self._resources.get(dataset_arn)
        if dataset is None or dataset.resource_type != "dataset":
            return  # not (yet) in the view: the topic decides
        body = dataset.body
        declared = str(body.get("datasetType", "")).casefold()
        if body.get("datasetGroupArn") != group_arn or declared != dataset_type.casefold():
            raise BadRecord(
                "dataset-mismatch",
                f"record of dataset {dataset_arn} ({body.get('datasetType')}) is on a {dataset_type} topic of "
                f"dataset group {group_arn}",
            )
        self._checked.add((dataset_arn, group_arn, dataset_type))


@dataclass
class _GroupWork:
    keys: rk.Keys
    records: list[tuple[TopicPartition, int, Op]] = field(default_factory=list)
    highs: dict[TopicPartition, int] = field(default_factory=dict)


@dataclass
class Prepared:
    """A poll turned into Lua calls: (offsets key, payload, partitions, their batch states) per call."""

    calls: list[tuple[str, str, list[TopicPartition], list[TopicPartitionState]]] = field(default_factory=list)
    dead: list[OutgoingRecord] = field(default_factory=list)
    skipped: int = 0
    timestamps: list[float] = field(default_factory=list)
    tps: list[TopicPartition] = field(default_factory=list)


class Applier:
    """Turns polled records into Lua batches and applies them; owns the partition watermarks it knows.

    ``known[tp]`` is the last offset this process saw applied in Redis (None: seeked to the beginning and
    nothing applied yet). A batch tells the script which watermarks must exist; if one is gone, Redis was
    wiped under us and the script applies nothing ("LOST"): the partition is replayed from the beginning.
    """

    def __init__(
        self,
        settings: StreamSettings,
        redis: aioredis.Redis[bytes],
        resolver: Resolver,
        producer: Producer,
        consumer: AIOKafkaConsumer,
    ) -> None:
        self.settings = settings
        self.prefix = settings.common.topic_prefix
        self.redis = redis
        self.resolver = resolver
        self.producer = producer
        self.consumer = consumer
        self.sha: str | None = None
        self.known: dict[TopicPartition, int | None] = {}
        self._topics: dict[str, DatasetTopic | None] = {}
        self._inflight: set[TopicPartition] = set()  # in a prepared batch not yet applied
        self.held: set[TopicPartition] = set()  # paused: a data deletion job holds their group (ADR 0015)
        self._keys: dict[str, rk.Keys] = {}
        self.dead_letter_topic = dead_letter_topic(self.prefix)

    def topic(self, name: str) -> DatasetTopic | None:
        if name not in self._topics:
            self._topics[name] = parse_dataset_topic(self.prefix, name)
        return self._topics[name]

    def keys_for(self, tp: TopicPartition) -> tuple[rk.Keys, str] | None:
        topic = self.topic(tp.topic)
        if topic is None:
            return None
        return rk.Keys(self.prefix, topic.group_tag), offsets_field(topic, tp.partition)

    async def load_script(self) -> None:
        self.sha = str(await self.redis.script_load(APPLY_BATCH_LUA))  # type: ignore[no-untyped-call]

    # --- positions -------------------------------------------------------------------------------------
    async def stored_watermarks(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        by_group: dict[str, list[tuple[TopicPartition, str]]] = {}
        keys_of: dict[str, rk.Keys] = {}
        for tp in tps:
            found = self.keys_for(tp)
            if found is None:
                continue
            keys, fld = found
            by_group.setdefault(keys.ns, []).append((tp, fld))
            keys_of[keys.ns] = keys
        out: dict[TopicPartition, int | None] = {}
        if not by_group:
            return out
        pipe = self.redis.pipeline(transaction=False)
        order = list(by_group.items())
        for ns, entries in order:
            pipe.hmget(keys_of[ns].offsets(), [f for _, f in entries])
        replies = await pipe.execute()
        for (_ns, entries), values in zip(order, replies, strict=True):
            for (tp, _f), value in zip(entries, values, strict=True):
                out[tp] = None if value is None else int(value)
        return out

    async def resync(self, tps: Iterable[TopicPartition]) -> None:
        """Position partitions from Redis: after the stored watermark, or the beginning when there is none.
        Partitions no longer assigned (a rebalance happened meanwhile) are left to their new owner."""
        assigned = self.consumer.assignment()
        stored = await self.stored_watermarks(tp for tp in tps if tp in assigned)
        assigned = self.consumer.assignment()
        for tp, wm in stored.items():
            if tp not in assigned:
                continue
            topic = self.topic(tp.topic)
            if wm is None and topic is not None and self.resolver.retired(topic):
                # A generation a data deletion job replaced: its records are in the new topic (ADR 0015).
                end = (await self.consumer.end_offsets([tp]))[tp]
                self.consumer.seek(tp, end)
                self.known[tp] = None
                continue
            if wm is None and (tp not in self.known or self.known[tp] is not None):
                metrics.REWINDS.inc()
                log.info("no state for partition: replaying it from the beginning", extra={"tp": str(tp)})
            self.consumer.seek(tp, 0 if wm is None else wm + 1)
            self.known[tp] = wm

    async def check_wiped(self, tps: Iterable[TopicPartition]) -> None:
        """Replay partitions whose watermark vanished (Redis flushed) or went back (a failover lost acknowledged
        writes) even when no new record arrives. Called with no batch in flight."""
        known = {tp: wm for tp in tps if (wm := self.known.get(tp)) is not None}
        if not known:
            return
        stored = await self.stored_watermarks(known)
        lost = [tp for tp, wm in stored.items() if wm is None or wm < known[tp]]
        if lost:
            log.warning(
                "stream state is gone from Redis or behind what was applied: replaying from the stored watermarks",
                extra={"partitions": len(lost)},
            )
            await self.resync(lost)

    async def release_held(self) -> None:
        """Resume the partitions a data deletion job held once it is over, positioned from Redis (its group's
        state was rebuilt: they replay from the beginning; the replaced generation's go to their end)."""
        if not self.held:
            return
        assigned = self.consumer.assignment()
        released = []
        for tp in list(self.held):
            topic = self.topic(tp.topic)
            if tp not in assigned or topic is None or not self.resolver.held(topic):
                self.held.discard(tp)
                if tp in assigned:
                    released.append(tp)
        if released:
            self.consumer.resume(*released)
            await self.resync(released)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self.known.pop(tp, None)
            with contextlib.suppress(KeyError):
                metrics.LAG.remove(tp.topic, str(tp.partition))

    # --- processing ------------------------------------------------------------------------------------
    def _op(self, topic: DatasetTopic, msg: Any, now: float) -> Op | None:
        group_arn = self.resolver.dataset_group_arn(topic.dataset_group, topic.group_incarnation)
        if group_arn is None:
            raise BadRecord("unknown-dataset-group", f"no live dataset group {topic.group_tag}")
        if not self.resolver.dataset_live(group_arn, topic):
            raise BadRecord("unknown-dataset", f"{msg.topic} is not the topic of a live dataset of {group_arn}")
        try:
            decoded = decode_record(msg.headers, msg.value, self.resolver.codecs)
        except KeyError as err:
            raise BadRecord("unknown-schema", str(err).strip("'\"")) from None
        except Exception as err:  # malformed Avro surfaces as many exception types
            raise BadRecord("undecodable", f"{type(err).__name__}: {err}") from None
        if decoded.marker is not None:
            return None
        self.resolver.check_dataset(decoded.headers.get(H_DATASET_ARN), group_arn, topic.dataset_type)
        kinds = self.resolver.kinds(decoded.schema_fingerprint or "")
        keys = self._keys.get(topic.group_tag)
        if keys is None:
            keys = self._keys[topic.group_tag] = rk.Keys(self.prefix, topic.group_tag)
        return build_op(keys, topic.dataset_type, decoded, msg.key, msg.value, kinds, self.settings.ops, now)

    def _dead_letter(self, msg: Any, err: BadRecord) -> OutgoingRecord:
        headers = [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in (msg.headers or ())]
        headers += [
            (H_DLQ_REASON, err.reason.encode()),
            (H_DLQ_ERROR, str(err)[:1000].encode()),
            (H_DLQ_TOPIC, msg.topic.encode()),
            (H_DLQ_PARTITION, str(msg.partition).encode()),
            (H_DLQ_OFFSET, str(msg.offset).encode()),
        ]
        return OutgoingRecord(self.dead_letter_topic, msg.value, msg.key, headers)

    def prepare(self, polled: Mapping[TopicPartition, Sequence[Any]]) -> Prepared:
        """Decode a poll's records into Lua payloads (CPU only: runs while the previous batch is in Redis)."""
        now = time.time()
        groups: dict[str, _GroupWork] = {}
        prepared = Prepared()
        for tp, msgs in polled.items():
            if not msgs:
                continue
            topic = self.topic(tp.topic)
            if topic is None:
                continue
            if self.resolver.held(topic):
                # Not applied, not dead-lettered: read again once the deletion job is done.
                self.consumer.seek(tp, msgs[0].offset)
                self.consumer.pause(tp)
                self.held.add(tp)
                continue
            prepared.tps.append(tp)
            work = groups.get(topic.group_tag)
            if work is None:
                work = groups[topic.group_tag] = _GroupWork(rk.Keys(self.prefix, topic.group_tag))
            for msg in msgs:
                try:
                    op = self._op(topic, msg, now)
                except BadRecord as err:
                    metrics.DEAD_LETTERS.labels(err.reason).inc()
                    prepared.dead.append(self._dead_letter(msg, err))
                    continue
                if op is None:
                    prepared.skipped += 1
                else:
                    work.records.append((tp, msg.offset, op))
                    prepared.timestamps.append(msg.timestamp)
            work.highs[tp] = msgs[-1].offset
        for batch, tps in self._batches(groups.values()):
            prepared.calls.append((batch.keys.offsets(), encode_batch(batch), tps, batch.partitions))
        self._inflight.update(prepared.tps)
        return prepared

    async def apply(self, prepared: Prepared) -> None:
        """Send the dead letters, then apply the payloads in one pipelined round trip. Raises on Redis or
        Kafka outages; the caller resyncs positions from Redis and polls again."""
        try:
            await self._apply(prepared)
        finally:
            self._inflight.difference_update(prepared.tps)

    async def _apply(self, prepared: Prepared) -> None:
        if prepared.dead:
            # Delivered before the watermark moves past them: a crash re-sends, never loses, a dead letter.
            await self.producer.send_many(prepared.dead)
            metrics.EVENTS.labels("dead_letter").inc(len(prepared.dead))
        if prepared.skipped:
            metrics.EVENTS.labels("skipped").inc(prepared.skipped)
        if not prepared.calls:
            return
        started = time.perf_counter()
        replies = await self._execute([(key, payload) for key, payload, _tps, _parts in prepared.calls])
        metrics.APPLY_SECONDS.observe(time.perf_counter() - started)
        lost: set[TopicPartition] = set()
        applied = dups = replays = 0
        assigned = self.consumer.assignment()
        for (_key, _payload, tps, parts), reply in zip(prepared.calls, replies, strict=True):
            result: BatchResult = decode_result(reply)
            if result.lost is not None:
                lost.update(tps)
                continue
            applied += result.applied
            dups += result.duplicates
            replays += result.replayed
            for tp, state in zip(tps, parts, strict=True):
                if tp not in lost and tp in assigned:
                    known = self.known.get(tp)
                    self.known[tp] = state.high if known is None else max(known, state.high)
        if lost:
            log.warning(
                "stream state vanished or went back mid-batch: replaying from the stored watermarks",
                extra={"partitions": len(lost)},
            )
            await self.resync({tp for _k, _p, tps, _s in prepared.calls for tp in tps})
        done = time.time()
        for ts in prepared.timestamps:
            metrics.LATENCY.observe(max(0.0, done - ts / 1000.0))
        metrics.EVENTS.labels("applied").inc(applied - dups)
        metrics.EVENTS.labels("duplicate").inc(dups)
        metrics.EVENTS.labels("replayed").inc(replays)
        self.update_lag(prepared.tps)

    def discard(self, prepared: Prepared) -> None:
        """A prepared poll that will never be applied (its records are fetched again after a resync)."""
        self._inflight.difference_update(prepared.tps)

    async def process(self, polled: Mapping[TopicPartition, Sequence[Any]]) -> None:
        await self.confirm(polled)
        await self.apply(self.prepare(polled))

    async def confirm(self, polled: Mapping[TopicPartition, Sequence[Any]]) -> None:
        """Catch the view up before ``prepare`` would dead-letter records of a topic the view does not know."""
        names = {tp.topic for tp, msgs in polled.items() if msgs}
        parsed = [(name, topic) for name in names if (topic := self.topic(name)) is not None]
        await self.resolver.confirm_dead(parsed)

    def partitions_of(self, group_tag: str) -> list[TopicPartition]:
        """This process's assigned partitions of one dataset group's topics."""
        return [
            tp
            for tp in self.consumer.assignment()
            if (topic := self.topic(tp.topic)) is not None and topic.group_tag == group_tag
        ]

    async def _execute(self, payloads: list[tuple[str, str]]) -> list[Any]:
        """One pipelined round trip of EVALSHAs (each one atomic). A missing script (Redis restarted) fails
        every call before anything runs, so it is loaded and the whole round trip repeated."""
        for attempt in range(2):
            if self.sha is None:
                await self.load_script()
            assert self.sha is not None
            pipe = self.redis.pipeline(transaction=False)
            for offsets_key, payload in payloads:
                pipe.evalsha(self.sha, 1, offsets_key, payload)
            try:
                return list(await pipe.execute())
            except NoScriptError:
                if attempt:
                    raise
                self.sha = None
        raise AssertionError("unreachable")

    def _batches(self, groups: Iterable[_GroupWork]) -> list[tuple[Batch, list[TopicPartition]]]:
        """Split each dataset group's records into Lua calls of at most ``script_records`` records; a call
        also carries partitions whose records were all dead letters or markers, so their watermark moves."""
        out: list[tuple[Batch, list[TopicPartition]]] = []
        limit = self.settings.script_records
        for work in groups:
            expect_after: set[TopicPartition] = set()
            records = work.records
            chunks = [records[i : i + limit] for i in range(0, len(records), limit)] or [[]]
            for n, chunk in enumerate(chunks):
                last = n == len(chunks) - 1
                highs: dict[TopicPartition, int] = {}
                for tp, offset, _op in chunk:
                    highs[tp] = offset
                if last:
                    highs.update(work.highs)  # trailing dead letters / markers
                if not highs:
                    continue
                tps = list(highs)
                index = {tp: i for i, tp in enumerate(tps)}
                partitions = []
                for tp in tps:
                    found = self.keys_for(tp)
                    assert found is not None
                    known = self.known.get(tp)
                    expect = tp in expect_after or tp in self._inflight or known is not None
                    floor = -1 if known is None else known
                    partitions.append(TopicPartitionState(found[1], expect, highs[tp], floor))
                    expect_after.add(tp)
                batch = Batch(work.keys, self.settings.ops, partitions, [(index[tp], o, op) for tp, o, op in chunk])
                out.append((batch, tps))
        return out

    def update_lag(self, tps: Iterable[TopicPartition]) -> None:
        assigned = self.consumer.assignment()
        for tp in tps:
            if tp not in assigned:
                continue
            high = self.consumer.highwater(tp)
            if high is None:
                continue
            known = self.known.get(tp)
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - (-1 if known is None else known) - 1))


#: The longest an idle ``getmany`` loop sleeps before it looks again (the processor's Redis checks and commits).
IDLE_WAKE_MS = 1000
#: The longest aiokafka's fetch task sleeps when nothing happens: its fetches, a seek, a consumed batch, a new
#: assignment, a paused partition's resume and a metadata update each wake it at once (ADR 0030 §12, §15).
FETCH_TASK_WAKE_MS = 5000


def consumer_config(settings: StreamSettings, group_id: str | None, fetch_wait_ms: int | None = None) -> dict[str, Any]:
    """Latency-leaning fetch settings: the broker answers as soon as a record arrives (fetch_min_bytes=1),
    or after ``fetch_wait_ms`` (default ``settings.fetch_wait_ms``) when idle; new topics matching the pattern
    show up within ``topic_refresh_ms``."""
    security = settings.common.kafka_security
    return {
        "bootstrap_servers": settings.common.kafka_bootstrap,
        **(security.aiokafka() if security is not None else {}),  # TLS + SASL (ADR 0027)
        "group_id": group_id,
        "client_id": f"{settings.app_id}-state",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_min_bytes": 1,
        "fetch_max_wait_ms": settings.fetch_wait_ms if fetch_wait_ms is None else fetch_wait_ms,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "metadata_max_age_ms": settings.topic_refresh_ms,
        "max_poll_records": settings.batch_max,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        # How often aiokafka's fetch task wakes when nothing happens (default 200 ms: 5 event-loop wake-ups a
        # second per consumer). A record, a seek, a new assignment or a consumed batch wake it at once (ADR 0030).
        "consumer_timeout_ms": FETCH_TASK_WAKE_MS,
    }


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, processor: StreamProcessor) -> None:
        self._p = processor

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._p.lock:
            if self._p.applier is not None:
                self._p.applier.forget(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self._p.lock:
            if self._p.applier is not None and assigned:
                await self._p.applier.resync(assigned)
            self._p.assigned_once.set()


class StreamProcessor:
    """The worker's consume-apply loop (group member on every dataset topic of the prefix)."""

    def __init__(self, settings: StreamSettings, resources: ResourceView | None = None) -> None:
        self.settings = settings
        self.lock = asyncio.Lock()
        self.applier: Applier | None = None
        self.assigned_once = asyncio.Event()
        self.healthy = False
        self._resources = resources
        self._own_view = resources is None
        self._consumer: AIOKafkaConsumer | None = None
        self._redis: aioredis.Redis[bytes] | None = None
        self._producer: Producer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._committed: dict[TopicPartition, int] = {}  # what the last commit sent

    async def start(self) -> None:
        common = self.settings.common
        prefix = common.topic_prefix
        await asyncio.to_thread(
            ensure_topics,
            common.kafka_bootstrap,
            [dead_letter_topic_spec(prefix)],
        )
        if self._resources is None:
            self._resources = ResourceView(common.kafka_bootstrap, prefix)
            await asyncio.to_thread(self._resources.start)
        await self._resources.ready()
        self._redis = async_redis_from_url(common.redis_url)
        await self._redis.ping()
        self._producer = Producer(common.kafka_bootstrap, idle_poll_s=BACKGROUND_IDLE_POLL_S)
        self._consumer = AIOKafkaConsumer(**consumer_config(self.settings, self.settings.group_id))
        self.applier = Applier(self.settings, self._redis, Resolver(self._resources), self._producer, self._consumer)
        await self._consumer.start()
        self._consumer.subscribe(pattern=dataset_topics_regex(prefix), listener=_Rebalance(self))
        gc.freeze()  # start-up objects never become garbage: keep them out of every later collection
        self._task = asyncio.create_task(self._run(), name="stream-processor")
        self.healthy = True

    async def _run(self) -> None:
        """Poll, prepare, apply; the apply of one poll overlaps the poll and preparation of the next (Redis
        and Python work in parallel). Safe because each record's Lua check against its partition's watermark
        makes a late or repeated apply a no-op, and a failure makes everything re-read positions from Redis."""
        assert self._consumer is not None and self.applier is not None
        consumer, applier = self._consumer, self.applier
        next_check = time.monotonic() + self.settings.check_interval_s
        next_commit = time.monotonic() + 5.0
        pending: asyncio.Task[None] | None = None
        backoff = 0.0
        while not self._stopping:
            polled = await consumer.getmany(
                timeout_ms=IDLE_WAKE_MS if pending is None else 0, max_records=self.settings.batch_max
            )
            prepared: Prepared | None = None
            try:
                if polled:
                    await applier.confirm(polled)
                prepared = applier.prepare(polled) if polled else None
                if pending is not None:
                    task, pending = pending, None
                    await task
                if backoff:
                    # The poll predates the failure: drop it, re-read positions, fetch again.
                    async with self.lock:
                        await applier.resync(consumer.assignment())
                    backoff = 0.0
                    continue
                if prepared is not None:
                    pending, prepared = asyncio.create_task(self._apply_locked(prepared)), None
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.settings.check_interval_s
                    if pending is not None:
                        task, pending = pending, None
                        await task
                    async with self.lock:
                        await applier.release_held()
                        await applier.check_wiped(consumer.assignment())
                        applier.update_lag(consumer.assignment())
                self.healthy = True
            except (RedisConnectionError, RedisTimeoutError, ServiceUnavailableException, OSError) as err:
                # Nothing of a failed call is half-applied (one Lua call is atomic); positions are re-read from
                # Redis once it answers again, and the records after them fetched again.
                self.healthy = False
                backoff = min(5.0, (backoff or 0.1) * 2)
                log.warning("stream batch failed, retrying", extra={"error": repr(err), "backoff_s": backoff})
                await asyncio.sleep(backoff)
                continue
            finally:
                if prepared is not None:
                    applier.discard(prepared)
            if time.monotonic() >= next_commit:
                next_commit = time.monotonic() + 5.0
                await self._commit()
        if pending is not None:
            with contextlib.suppress(Exception):
                await pending

    async def _apply_locked(self, prepared: Prepared) -> None:
        assert self.applier is not None
        async with self.lock:
            await self.applier.apply(prepared)

    async def _commit(self) -> None:
        """Commit applied positions so Kafka's own lag tools see progress (Redis holds the real ones)."""
        if self._consumer is None or self.applier is None:
            return
        offsets = {tp: wm + 1 for tp, wm in self.applier.known.items() if wm is not None}
        offsets = {tp: o for tp, o in offsets.items() if tp in self._consumer.assignment()}
        # An idle stream has nothing new to commit: an unchanged commit is still a write to the broker's
        # offsets topic every 5 s (docs/benchmarks.md "Idle cost").
        if not offsets or all(self._committed.get(tp) == o for tp, o in offsets.items()):
            return
        try:
            await asyncio.wait_for(self._consumer.commit(offsets), timeout=5.0)
            self._committed.update(offsets)
        except Exception as err:  # a rebalance in progress; the next commit catches up
            log.debug("offset commit skipped", extra={"error": repr(err)})

    @property
    def resources(self) -> ResourceView | None:
        return self._resources

    async def wipe_group(self, group_tag: str) -> int:
        """Delete one dataset group's state and replay its live topics into it (ADR 0014 §4: what the stream
        derived from a deleted dataset must go while the group stays). Under the processor's lock, so no batch
        of this process lands in between: every key but the offsets hash first, the offsets hash last (it is
        the marker that the state is stale, so a crash midway leaves the work to the next janitor pass), then
        this process's partitions of the group are positioned at the beginning and replayed by the loop.
        Returns the number of keys deleted."""
        assert self._redis is not None and self.applier is not None
        async with self.lock:
            deleted = await delete_group_keys(self._redis, rk.Keys(self.settings.common.topic_prefix, group_tag))
            tps = self.applier.partitions_of(group_tag)
            if tps:
                await self.applier.resync(tps)
        return deleted

    async def wait_assigned(self, timeout_s: float = 60.0) -> None:
        await asyncio.wait_for(self.assigned_once.wait(), timeout_s)

    @property
    def failed(self) -> BaseException | None:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            return self._task.exception()
        return None

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            # The loop notices within one poll and lets its in-flight apply finish.
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 10.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            await self._commit()
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        if self._producer is not None:
            self._producer.close(5.0)
        if self._redis is not None:
            await close_redis(self._redis)
        if self._own_view and self._resources is not None:
            self._resources.stop()
