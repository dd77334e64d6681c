"""The stream's attribution worker (ADR 0022): metric attributions and impression counts from the interactions
topics and the runtime's recommendations topic.

Its own consumer group (``<app id>-attribution``) on every Interactions topic of the prefix and on
``<prefix>.recommendations``. A recommendation record is remembered in Redis (recommendationId -> the campaign or
recommender that returned it, and its items). An interaction adds to its dataset group's live metric attribution
(``attribution_model``) and to the group's impression counts; each partition's batch goes to Redis in one
MULTI/EXEC transaction together with the partition's offset, so a crash replays without double counting
(DESIGN "exactly-once by writing the position with the state"). PutEvents rows count at once; bulk rows are held
per import job and partition until the job's ``import-complete`` marker (an interrupted attempt's rows are
dropped at its retry's ``import-start`` marker), then INCREMENTAL imports join the running totals, and a job with
``publishAttributionMetricsToS3`` gets its report file once every partition completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from mode import Service
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tailor_shared import redis_keys as rk
from tailor_shared.dataset_reader import MARKER_IMPORT_START
from tailor_shared.kafka import IDLE_FETCH_WAIT_MS, TopicSpec, ensure_topics
from tailor_shared.objectstore import ObjectStore
from tailor_shared.records import decode_record
from tailor_shared.redis_client import async_redis_from_url
from tailor_shared.resource_view import ResourceView
from tailor_shared.scoring.impressions import impression_outcome
from tailor_shared.topics import (
    H_IMPORT_JOB,
    H_RECOMMENDATION_ID,
    MARKER_IMPORT_COMPLETE,
    SOURCE_BULK,
    dataset_topic_pattern,
    impressions_topic,
)
from tailor_stream import metrics
from tailor_stream.attribution_model import (
    MAX_AGE_S,
    RECOMMENDATION_TTL_S,
    Attribution,
    admit_source,
    attribution_from,
    event_source,
    increments,
    report_lines,
    report_name,
)
from tailor_stream.config import StreamSettings
from tailor_stream.domain import parse_dataset_topic
from tailor_stream.erasure import DeletionInputError
from tailor_stream.processor import IDLE_WAKE_MS, Resolver, close_redis, consumer_config

log = logging.getLogger(__name__)

RECOMMENDATIONS_RETENTION_MS = RECOMMENDATION_TTL_S * 1000
#: An interaction naming a recommendationId the worker has not seen yet waits this long for the runtime's record
#: (the two topics are read independently) before it counts as SOURCE_NAME_UNDEFINED.
RECOMMENDATION_GRACE_S = 5.0
REFRESH_S = 10.0  # how often every live attribution's totals are re-read into the gauges
CATCH_UP_EVERY_S = 1.0  # at most this often the view is caught up for records of a group without attribution


def live_attribution(view: ResourceView, group_arn: str) -> Attribution | None:
    """The dataset group's metric attribution (at most one, L16136) unless it is being deleted."""
    for record in view.list("metricAttribution", group_arn):
        if str(record.body.get("status", "")).startswith("DELETE"):
            continue
        return attribution_from(record.arn, rk.attribution_tag(record.body), record.body)
    return None


async def delete_attribution_keys(redis: aioredis.Redis[bytes], keys: rk.Keys) -> int:
    """A deleted dataset group's attribution and impression keys (the storage janitor's dead-tag pass)."""
    deleted = 0
    async for key in redis.scan_iter(match=keys.attribution_pattern(), count=1000):
        deleted += int(await redis.unlink(key))
    return deleted


class AttributionWorker:
    def __init__(self, settings: StreamSettings, resources: ResourceView, redis: aioredis.Redis[bytes]) -> None:
        self.settings = settings
        self._objects = ObjectStore(settings.common.s3)
        self.prefix = settings.common.topic_prefix
        self.recommendations = impressions_topic(self.prefix)
        self._view = resources
        self._redis = redis
        self._resolver = Resolver(resources)
        self._consumer: AIOKafkaConsumer | None = None
        self._caught_up_at = time.time()
        self._sources: dict[str, set[str]] = {}  # attribution tag -> its sources (the 100-source quota)

    async def start(self) -> None:
        common = self.settings.common
        spec = TopicSpec(self.recommendations, 2, {"retention.ms": str(RECOMMENDATIONS_RETENTION_MS)})
        await asyncio.to_thread(ensure_topics, common.kafka_bootstrap, [spec])
        # Attribution is not on the freshness path: a seek back to wait for the runtime's record of a recommendation
        # (below) may wait out an idle fetch, and RECOMMENDATION_GRACE_S is as long (ADR 0030).
        config = consumer_config(self.settings, f"{self.settings.app_id}-attribution", IDLE_FETCH_WAIT_MS)
        config["client_id"] = f"{self.settings.app_id}-attribution"
        # A new group's interactions are attributed from the start of their topic whenever it is found: no need
        # to list every topic every few seconds (each answer is parsed here and built by the broker).
        config["metadata_max_age_ms"] = self.settings.attribution_topic_refresh_ms
        self._consumer = AIOKafkaConsumer(**config)
        await self._consumer.start()
        pattern = f"(?:{dataset_topic_pattern(self.prefix, 'Interactions')})|(?:{re.escape(self.recommendations)})"
        self._consumer.subscribe(pattern=pattern, listener=_Seek(self))

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._commit()
            await self._consumer.stop()

    async def _commit(self) -> None:
        """Kafka's committed offsets are advisory here (Redis holds the real positions): with nothing assigned
        (a pattern that matches nothing yet, a rebalance under way) aiokafka raises, which must not crash the
        stream app (it once stopped the whole stream worker in a test)."""
        assert self._consumer is not None
        if not self._consumer.assignment():
            return
        try:
            await self._consumer.commit()
        except Exception as err:  # a rebalance in progress; the next commit catches up
            log.debug("attribution offset commit skipped", extra={"error": repr(err)})

    async def run(self, stopping: asyncio.Event) -> None:
        assert self._consumer is not None
        next_commit = next_refresh = 0.0
        consumed = True  # records since the last commit: an idle worker commits nothing (a broker write each)
        while not stopping.is_set():
            polled = await self._consumer.getmany(timeout_ms=IDLE_WAKE_MS, max_records=self.settings.batch_max)
            consumed = consumed or bool(polled)
            remembered = [r for tp, rs in polled.items() if tp.topic == self.recommendations for r in rs]
            if remembered:
                await self._remember(remembered)
            for tp, records in polled.items():
                if tp.topic != self.recommendations and records:
                    await self._apply(tp, records)
            now = time.monotonic()
            if now >= next_commit and consumed:
                await self._commit()
                next_commit, consumed = now + 2.0, False
            if now >= next_refresh:
                await self.refresh_gauges()
                next_refresh = now + REFRESH_S

    # --- recommendations ---------------------------------------------------------------------------------
    async def _remember(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for record in records:
            try:
                body = json.loads(record.value or b"")
                rid = str(body["recommendationId"])
                value = {"source": str(body["campaignArn"]), "items": [str(i) for i in body.get("itemList") or ()]}
            except (ValueError, KeyError, TypeError):
                continue
            pipe.set(rk.recommendation_key(self.prefix, rid), json.dumps(value), ex=RECOMMENDATION_TTL_S)
        await pipe.execute()

    # --- interactions ------------------------------------------------------------------------------------
    def keys_of(self, topic_name: str) -> tuple[rk.Keys, str] | None:
        topic = parse_dataset_topic(self.prefix, topic_name)
        if topic is None:
            return None
        group_arn = self._resolver.dataset_group_arn(topic.dataset_group, topic.group_incarnation)
        group = self._view.get(group_arn) if group_arn else None
        return (rk.Keys.for_group(self.prefix, group), group.arn) if group is not None else None

    async def _attribution(self, group_arn: str, newest_ms: int) -> Attribution | None:
        """The group's attribution; when there is none, the view is caught up first if the batch holds records
        newer than the last catch-up (an attribution created a moment ago must count them, L16134). At most one
        catch-up per ``CATCH_UP_EVERY_S``: a busy group without an attribution must not pay one per batch, so an
        event within that long of an attribution's creation may be missed (ADR 0022)."""
        found = live_attribution(self._view, group_arn)
        now = time.time()
        stale = newest_ms / 1000 >= self._caught_up_at - 1.0
        if found is None and stale and now - self._caught_up_at >= CATCH_UP_EVERY_S:
            try:
                await asyncio.to_thread(self._view.catch_up)
            except Exception as err:  # Kafka unreachable: judge from the view as it is, try again later
                log.warning("attribution: the resource view cannot catch up: %r", err)
            self._caught_up_at = now
            found = live_attribution(self._view, group_arn)
        return found

    async def _apply(self, tp: TopicPartition, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        assert self._consumer is not None
        located = self.keys_of(tp.topic)
        if located is None:
            return  # a deleted incarnation's topic, or not an interactions topic: nothing to attribute
        keys, group_arn = located
        attribution = await self._attribution(group_arn, max(r.timestamp for r in records))
        decoded: list[tuple[ConsumerRecord[bytes, bytes], Any]] = []
        for record in records:
            try:
                decoded.append((record, decode_record(record.headers, record.value, self._resolver.codecs)))
            except (KeyError, ValueError):
                continue  # the state processor dead-letters it
        rids = sorted({d.headers[H_RECOMMENDATION_ID] for _, d in decoded if d.headers.get(H_RECOMMENDATION_ID)})
        known: dict[str, dict[str, Any]] = {}
        if rids:
            raw = await self._redis.mget([rk.recommendation_key(self.prefix, r) for r in rids])
            known = {rid: json.loads(v) for rid, v in zip(rids, raw, strict=True) if v is not None}
        now = time.time()
        for i, (record, d) in enumerate(decoded):
            rid = d.headers.get(H_RECOMMENDATION_ID)
            if rid and rid not in known and now - record.timestamp / 1000 < RECOMMENDATION_GRACE_S:
                self._consumer.seek(tp, record.offset)  # wait for the runtime's record of it
                decoded = decoded[:i]
                break
        if not decoded:
            return
        items: dict[str, dict[str, str]] = {}
        if attribution is not None and attribution.item_columns:
            ids = sorted({str(d.row.get("ITEM_ID")) for _, d in decoded if d.row is not None})
            pipe = self._redis.pipeline(transaction=False)
            for item_id in ids:
                pipe.hmget(keys.metadata("item", item_id), list(attribution.item_columns))
            replies = await pipe.execute()
            items = {
                i: {c: v.decode() for c, v in zip(attribution.item_columns, r, strict=True) if v is not None}
                for i, r in zip(ids, replies, strict=True)
            }
        await self._write(tp, keys, attribution, decoded, known, items)

    async def _write(
        self,
        tp: TopicPartition,
        keys: rk.Keys,
        attribution: Attribution | None,
        decoded: Sequence[tuple[ConsumerRecord[bytes, bytes], Any]],
        known: Mapping[str, Mapping[str, Any]],
        items: Mapping[str, Mapping[str, str]],
    ) -> None:
        shown: dict[str, int] = {}
        chosen: dict[str, int] = {}
        totals: dict[str, float] = {}
        jobs: dict[str, _JobPart] = {}  # bulk rows and markers of this partition, in log order
        sources = self._sources.setdefault(attribution.tag, set()) if attribution else set()
        newest_counted = 0
        for record, d in decoded:
            if d.marker is not None:
                job = d.headers.get(H_IMPORT_JOB)
                if job and d.marker == MARKER_IMPORT_START:
                    jobs[job] = _JobPart(reset=True)  # a retried attempt: the interrupted one's rows are void
                elif job and d.marker == MARKER_IMPORT_COMPLETE:
                    jobs.setdefault(job, _JobPart()).complete = _json(d.marker_body)
                continue
            row = d.row
            rid = d.headers.get(H_RECOMMENDATION_ID)
            recommended = known.get(rid) if rid else None
            seen, pick = impression_outcome(row, (recommended or {}).get("items"))
            for item in seen:
                shown[item] = shown.get(item, 0) + 1
            if pick is not None:
                chosen[pick] = chosen.get(pick, 0) + 1
            if attribution is None:
                metrics.ATTRIBUTION_EVENTS.labels("no_attribution").inc()
                continue
            if record.timestamp / 1000 < attribution.since:
                metrics.ATTRIBUTION_EVENTS.labels("before").inc()
                continue
            source = admit_source(event_source(row, (recommended or {}).get("source")), sources)
            adds = increments(attribution, row, source, items.get(str(row.get("ITEM_ID"))))
            if not adds:
                metrics.ATTRIBUTION_EVENTS.labels("unmatched").inc()
                continue
            if d.source == SOURCE_BULK and d.import_job_arn:
                part = jobs.setdefault(d.import_job_arn, _JobPart())
                for name, src, window, value in adds:
                    part.add(rk.counter_field(name, src, window), value)
                metrics.ATTRIBUTION_EVENTS.labels("bulk").inc()
                continue
            if record.timestamp / 1000 - float(row.get("TIMESTAMP") or 0) > MAX_AGE_S:
                metrics.ATTRIBUTION_EVENTS.labels("before").inc()  # "less than 14 days old" (L16138)
                continue
            for name, src, _window, value in adds:
                field = rk.counter_field(name, src)
                totals[field] = totals.get(field, 0.0) + value
            newest_counted = max(newest_counted, record.timestamp)
            metrics.ATTRIBUTION_EVENTS.labels("counted").inc()
        if not (shown or chosen or totals or (attribution is not None and jobs)):
            return  # nothing derived: no state and no offset to write (a replay of these records adds nothing)
        pipe = self._redis.pipeline(transaction=True)
        published: list[tuple[int, str]] = []  # (result index, totals field)
        finished: list[tuple[str, dict[str, Any]]] = []
        if attribution is not None:
            tag = attribution.tag
            for job, part in jobs.items():
                key, done = keys.attribution_job(tag, job, tp.partition), keys.attribution_job_done(tag, job)
                if part.complete is not None:
                    # The partition's share of the job is final: stored (unless reset here) plus this batch.
                    stored = {} if part.reset else await self._redis.hgetall(key)
                    for stored_field, stored_value in stored.items():
                        part.add(stored_field.decode(), float(stored_value))
                    if str(part.complete.get("importMode", "FULL")).upper() == "INCREMENTAL":
                        for f, v in part.values.items():
                            name, src, _w = rk.split_counter_field(f)
                            totals[rk.counter_field(name, src)] = totals.get(rk.counter_field(name, src), 0.0) + v
                    finished.append((job, part.complete))
                if part.reset or part.complete is not None:
                    pipe.delete(key)
                    pipe.srem(done, tp.partition)
                if part.complete is not None:
                    if part.values:
                        pipe.hset(key, mapping={f: repr(v) for f, v in part.values.items()})
                    pipe.sadd(done, tp.partition)
                else:
                    for f, v in part.values.items():
                        pipe.hincrbyfloat(key, f, v)
            for f, v in totals.items():
                published.append((len(pipe), f))
                pipe.hincrbyfloat(keys.attribution_totals(tag), f, v)
        for item, n in shown.items():
            pipe.hincrby(keys.impressions_shown(), item, n)
        for item, n in chosen.items():
            pipe.hincrby(keys.impressions_chosen(), item, n)
        pipe.hset(keys.attribution_offsets(), f"{tp.topic}:{tp.partition}", decoded[-1][0].offset)
        results = await pipe.execute()
        if attribution is None:
            return
        for index, f in published:
            self._publish(attribution, f, float(results[index]))
        if newest_counted:
            metrics.ATTRIBUTION_LAG.observe(max(0.0, time.time() - newest_counted / 1000))
        for job, body in finished:
            await self._finish(tp, keys, attribution, job, body)

    def _publish(self, attribution: Attribution, field: str, value: float) -> None:
        name, source = rk.split_counter_field(field)[:2]
        metric = attribution.metric(name)
        if metric is not None:
            metrics.ATTRIBUTION_VALUE.labels(attribution.arn, name, metric.event_type, metric.function, source).set(
                value
            )

    async def _finish(
        self, tp: TopicPartition, keys: rk.Keys, attribution: Attribution, job: str, body: Mapping[str, Any]
    ) -> None:
        """After a job's marker on this partition: once every partition completed, write the report (when the job
        asked for one and the attribution has a path) and drop the job's held rows."""
        assert self._consumer is not None
        partitions = self._consumer.partitions_for_topic(tp.topic) or {tp.partition}
        done_key = keys.attribution_job_done(attribution.tag, job)
        if int(await self._redis.scard(done_key)) < len(partitions):
            return
        job_keys = [keys.attribution_job(attribution.tag, job, p) for p in sorted(partitions)]
        record = self._view.get(job)
        if record is not None and record.body.get("publishAttributionMetricsToS3") and attribution.output:
            values: list[tuple[str, str, int, float]] = []
            for key in job_keys:
                for f, v in (await self._redis.hgetall(key)).items():
                    name, source, window = rk.split_counter_field(f)
                    values.append((name, source, int(window), float(v)))
            completed = float(record.body.get("lastUpdatedDateTime") or time.time())
            mode = str(body.get("importMode") or record.body.get("importMode") or "FULL").upper()
            try:
                await asyncio.to_thread(self._write_report, attribution, mode, completed, values)
                metrics.ATTRIBUTION_REPORTS.labels("ok").inc()
            except (OSError, DeletionInputError):
                metrics.ATTRIBUTION_REPORTS.labels("error").inc()
                log.exception("cannot write the attribution report of %s", job)
        await self._redis.delete(*job_keys, done_key)

    def _write_report(
        self, attribution: Attribution, mode: str, at: float, values: Sequence[tuple[str, str, int, float]]
    ) -> None:
        assert attribution.output is not None
        url = attribution.output.rstrip("/") + "/" + report_name(mode, at)  # s3:// or file:// (ADR 0023)
        self._objects.write_bytes(url, ("\n".join(report_lines(attribution, values)) + "\n").encode("utf-8"))
        log.info("attribution report written", extra={"path": url, "lines": len(values)})

    async def refresh_gauges(self) -> None:
        """Every live attribution's totals from Redis into the gauges (other processes' partitions too); a
        deleted attribution's series disappear ("deleting it stops publishing", L16830)."""
        fresh: list[tuple[Attribution, str, float]] = []
        for group in self._view.list("datasetGroup"):
            attribution = live_attribution(self._view, group.arn)
            if attribution is None:
                continue
            keys = rk.Keys.for_group(self.prefix, group)
            stored = await self._redis.hgetall(keys.attribution_totals(attribution.tag))
            self._sources.setdefault(attribution.tag, set()).update(rk.split_counter_field(f)[1] for f in stored)
            fresh += [(attribution, f.decode(), float(v)) for f, v in stored.items()]
        metrics.ATTRIBUTION_VALUE.clear()
        for attribution, field, value in fresh:
            self._publish(attribution, field, value)

    async def position(self, assigned: Sequence[TopicPartition]) -> None:
        """Seek each interactions partition just past the offset this worker last applied there (Redis); one
        without a watermark goes on from the group's committed offset (or the beginning)."""
        assert self._consumer is not None
        for tp in assigned:
            located = self.keys_of(tp.topic) if tp.topic != self.recommendations else None
            if located is None:
                continue
            raw = await self._redis.hget(located[0].attribution_offsets(), f"{tp.topic}:{tp.partition}")
            if raw is not None:
                self._consumer.seek(tp, int(raw) + 1)


class _JobPart:
    """One import job's rows and markers on one partition within a batch."""

    def __init__(self, reset: bool = False) -> None:
        self.reset = reset  # an import-start marker: the stored share is void
        self.complete: dict[str, Any] | None = None  # the import-complete marker's body
        self.values: dict[str, float] = {}

    def add(self, field: str, value: float) -> None:
        self.values[field] = self.values.get(field, 0.0) + value


def _json(body: bytes | None) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _Seek(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: AttributionWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._worker.position(assigned)


class AttributionService(Service):
    """Runs the attribution worker in the stream worker once the processor's resource view is up
    (``TAILOR_STREAM_ATTRIBUTION=false`` turns it off)."""

    def __init__(self, settings: StreamSettings, processor: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.processor = processor
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.worker: AttributionWorker | None = None

    async def on_start(self) -> None:
        if self.settings.attribution_worker:
            self._task = asyncio.create_task(self._run(), name="attribution")

    async def _run(self) -> None:
        while self.processor.resources is None or self.processor.applier is None:
            if self._stopping.is_set():
                return
            await asyncio.sleep(0.2)
        backoff = 0.0
        while not self._stopping.is_set():
            redis = async_redis_from_url(self.settings.common.redis_url)
            self.worker = AttributionWorker(self.settings, self.processor.resources, redis)
            try:
                await self.worker.start()
                await self.worker.run(self._stopping)
                return
            except (RedisConnectionError, RedisTimeoutError) as err:
                # Redis restarting or failing over (ADR 0025): start again, from the positions stored in Redis.
                backoff = min(5.0, (backoff or 0.1) * 2)
                log.warning("attribution worker lost Redis, restarting", extra={"error": repr(err), "backoff": backoff})
            except Exception as err:  # crash the worker, so a supervisor restarts it (it resumes from Redis)
                log.exception("the attribution worker failed")
                await self.crash(err)
                return
            finally:
                await self.worker.stop()
                await close_redis(redis)
            await asyncio.sleep(backoff)

    async def on_stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 10.0)
