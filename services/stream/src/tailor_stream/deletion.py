"""The data deletion worker (``DATA_DELETION`` jobs, owner ``data-deletion``): erases users from a dataset group.

Kafka is append-only, so a deletion rewrites (ADR 0015): each user-keyed dataset topic of the group
(Interactions, Users, Action_Interactions) is copied into a new generation — a fresh dataset incarnation, so
a new topic name — without the users' records; control then switches the datasets' records to it (every
reader and writer follows the records), the old topic's tail is copied until writers have moved, the group's
Redis state is rebuilt from the new topics and the old incarnation is left dead for storage cleanup. The
steps and the job-record fields that coordinate them are in ``tailor_shared.generations``.

It runs in the stream service (``TAILOR_STREAM_DELETION_WORKER``, default on), which owns the Redis state it
rebuilds; the platform (``tailor_shared.jobs.JobWorker``) runs one job at a time and redelivers an interrupted
one, which resumes from what the job record says was done.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from mode import Service

from tailor_shared import generations as gens
from tailor_shared import topics
from tailor_shared.dataset_reader import watermarks
from tailor_shared.incarnation import incarnation_of, new_incarnation
from tailor_shared.jobs import JobRecord, JobType, JobWorker, Owner, StatusReporter, StatusUpdate, job_topic_specs
from tailor_shared.kafka import Producer as KafkaProducer
from tailor_shared.kafka import ensure_topics, kafka_config, producer_config
from tailor_shared.locations import InvalidLocation, parse
from tailor_shared.objectstore import ObjectStore, ObjectStoreError
from tailor_shared.records import SchemaCodecs
from tailor_shared.redis_keys import Keys
from tailor_shared.resources import ResourceReader, ResourceRecord
from tailor_shared.schemas import normalize_dataset_type
from tailor_stream import erasure
from tailor_stream.config import StreamSettings
from tailor_stream.processor import StreamProcessor

log = logging.getLogger(__name__)

PENDING, IN_PROGRESS, COMPLETED, FAILED = "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"
FINISHED = frozenset({COMPLETED, FAILED})
DELETED = "_deleted"  # records dropped before the switch (a retried job adds its tail's to it)


def read_user_ids(store: ObjectStore, location: str) -> set[str]:
    """Every user id of the input (``s3://`` or ``file://``): one file, or every ``.csv`` file under a folder and
    its sub-folders (other files ignored, L15046); at most 50 MB in total, checked on the listing."""
    try:
        found = store.list_objects(location)
        if len(found) == 1 and found[0].url == parse(location).url:
            files = found  # the location names one object
        else:
            if not found:
                raise erasure.DeletionInputError(f"Input data location {location} does not exist.")
            files = [f for f in found if f.name.lower().endswith(".csv")]
            if not files:
                raise erasure.DeletionInputError(f"Input data location {location} has no .csv files.")
        erasure.check_total_size(f.size for f in files)
        users: set[str] = set()
        for f in files:
            users |= erasure.parse_user_ids(f.name.rsplit("/", 1)[-1], store.read_bytes(f.url))
    except (ObjectStoreError, InvalidLocation) as err:
        raise erasure.DeletionInputError(f"Input data location {location} can't be read: {err}") from None
    return users


class _Copier:
    """Streams partitions of a source topic into the same partitions of a target topic (keys, values, headers
    and timestamps as they were; import markers too), dropping what the eraser rejects."""

    def __init__(self, bootstrap: str, codecs: SchemaCodecs) -> None:
        self.bootstrap = bootstrap
        self.codecs = codecs
        self.errors: list[str] = []
        self.producer = Producer(
            producer_config(
                bootstrap,
                **{"linger.ms": 20, "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000},
            )
        )

    def _decoder(self, headers: Mapping[str, bytes], key: bytes | None, value: bytes | None) -> Any:
        def decode() -> dict[str, Any]:
            fp = headers.get(topics.H_SCHEMA_FP)
            codec = self.codecs.get(fp.decode()) if fp is not None else None
            if codec is None or value is None:
                # Undecodable: its key is all there is to go by (keys are USER_IDs).
                return {erasure.USER_ID: (key or b"").decode("utf-8", "replace")}
            return dict(codec.decode(value))

        return decode

    def scan(self, topic: str, ranges: Mapping[int, tuple[int, int]], handle: Callable[[Any], None]) -> None:
        remaining = {p for p, (start, end) in ranges.items() if end > start}
        if not remaining:
            return
        consumer = Consumer(
            {
                **kafka_config(self.bootstrap),
                "group.id": f"tailor-data-deletion-{new_incarnation()}",  # assign() only; nothing is committed
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
            }
        )
        last = {p: end - 1 for p, (_s, end) in ranges.items()}
        try:
            consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in sorted(remaining)])
            while remaining:
                for msg in consumer.consume(5_000, 0.05):
                    err = msg.error()
                    p = msg.partition()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            if p is not None and (msg.offset() or 0) > last.get(p, -1):
                                remaining.discard(p)
                            continue
                        raise KafkaException(err)
                    assert p is not None
                    off = msg.offset() or 0
                    if off > last[p]:
                        remaining.discard(p)
                        continue
                    handle(msg)
                    if off >= last[p]:
                        remaining.discard(p)
        finally:
            consumer.close()

    def copy(
        self, source: str, target: str, dataset_type: str, ranges: Mapping[int, tuple[int, int]],
        eraser: erasure.Eraser,
    ) -> int:  # fmt: skip
        """Copy ``ranges`` of ``source`` into ``target``; returns the records written."""
        written = 0
        producer = self.producer

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                self.errors.append(err.str())

        def handle(msg: Any) -> None:  # Any: the hot loop stays free of casts
            nonlocal written
            raw = msg.headers() or []
            headers = {k: v for k, v in raw if v is not None}
            key, value = msg.key(), msg.value()
            if topics.H_MARKER not in headers:
                session = headers.get(topics.H_SESSION_ID)
                if not eraser.keep(dataset_type, key, self._decoder(headers, key, value), session):
                    return
            while True:
                try:
                    producer.produce(
                        target, value, key, partition=msg.partition(), headers=raw,
                        timestamp=msg.timestamp()[1], on_delivery=delivered,
                    )  # fmt: skip
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
            written += 1

        self.scan(source, ranges, handle)
        self.flush()
        return written

    def sessions(self, source: str, dataset_type: str, ranges: Mapping[int, tuple[int, int]],
                 eraser: erasure.Eraser) -> None:  # fmt: skip
        def handle(msg: Any) -> None:  # Any: the hot loop stays free of casts
            headers = {k: v for k, v in (msg.headers() or []) if v is not None}
            if topics.H_MARKER in headers:
                return
            key = msg.key()
            eraser.note_session(
                dataset_type, key, self._decoder(headers, key, msg.value()), headers.get(topics.H_SESSION_ID)
            )

        self.scan(source, ranges, handle)

    def flush(self) -> None:
        left = self.producer.flush(120)
        if left or self.errors:
            raise RuntimeError(f"copy not acknowledged: {left} records left, errors {self.errors[:3]}")


class DeletionWorker:
    """Runs one data deletion job (``run``); every blocking step happens on the job thread."""

    def __init__(
        self,
        settings: StreamSettings,
        view: ResourceReader,
        report: Callable[[StatusUpdate], None],
        wipe_group: Callable[[str], int],
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self._objects = ObjectStore(settings.common.s3)
        self.view = view
        self.report = report
        self.wipe_group = wipe_group
        self.stopping = stopping
        self.bootstrap = settings.common.kafka_bootstrap
        self.prefix = settings.common.topic_prefix

    # --- helpers ---------------------------------------------------------------------------------------
    def _status(self, arn: str, status: str, reason: str | None = None, **fields: Any) -> None:
        self.report(StatusUpdate(arn, status, reason, fields))

    def _wait(self, check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")  # the platform retries the job
            time.sleep(0.05)

    def _datasets(self, group_arn: str) -> dict[str, ResourceRecord]:
        """Dataset type -> the group's dataset of a user-keyed type."""
        out: dict[str, ResourceRecord] = {}
        for record in self.view.list("dataset", group_arn):
            kind = normalize_dataset_type(str(record.body.get("datasetType", "")))
            if kind in erasure.USER_DATASETS:
                out[kind] = record
        return out

    def _topic(self, group: ResourceRecord, dataset: ResourceRecord, inc: str) -> str:
        return topics.dataset_topic_for(self.prefix, group, {**dataset.body, "_incarnation": inc})

    def _recreate(self, topic: str, dataset_type: str) -> None:
        """The new generation's topic, empty: a partial copy of an interrupted attempt is deleted first (the
        topic was never live, so nothing read it)."""
        if watermarks(self.bootstrap, topic):
            admin = AdminClient(kafka_config(self.bootstrap))
            for future in admin.delete_topics([topic], operation_timeout=30).values():
                try:
                    future.result(timeout=60)
                except KafkaException as err:
                    if err.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                        raise
            self._wait(lambda: topic not in admin.list_topics(timeout=10).topics, f"{topic} to be deleted", 60)
        ensure_topics(self.bootstrap, [topics.topic_spec(topic, dataset_type)])
        self._wait(lambda: bool(watermarks(self.bootstrap, topic)), f"{topic} to be created", 60)

    # --- the job ---------------------------------------------------------------------------------------
    def run(self, job: JobRecord) -> None:
        arn = job.resource_arn
        record = current_record(self.view, arn)
        if record is None or record.body.get("status") in FINISHED:
            return
        group = self.view.get(str(record.body.get("datasetGroupArn")))
        if group is None or group.resource_type != "datasetGroup":
            self._status(arn, FAILED, f"Dataset group {record.body.get('datasetGroupArn')} does not exist.")
            return
        started = time.monotonic()
        if record.body.get("status") == PENDING:
            self._status(arn, IN_PROGRESS)
        location = str((record.body.get("dataSource") or {}).get("dataLocation", ""))
        try:
            users = frozenset(read_user_ids(self._objects, location))
        except erasure.DeletionInputError as err:
            log.info("data deletion job failed", extra={"job": arn, "reason": str(err)})
            self._status(arn, FAILED, str(err))
            return
        datasets = self._datasets(group.arn)
        legacy = sorted(d.arn for d in datasets.values() if incarnation_of(d) is None)
        if legacy and record.body.get(gens.SWITCHED) is not True:
            # Its topic name carries no incarnation, so no new generation can be named (ADR 0015).
            self._status(
                arn, FAILED,
                f"Dataset {legacy[0]} was created before storage incarnations; delete and create it again "
                "to run data deletion jobs on it.",
            )  # fmt: skip
            return
        eraser = erasure.Eraser(users)
        copier = _Copier(self.bootstrap, SchemaCodecs(self.view))
        by_arn = {d.arn: (kind, d) for kind, d in datasets.items()}
        switched = record.body.get(gens.SWITCHED) is True
        if switched:
            plan = [g for g in gens.generations_of(record) if g.dataset_arn in by_arn]
            positions = _positions(record.body.get(gens.COPIED))
            deleted = int(record.body.get(DELETED) or 0)
        else:
            plan = self._announce(arn, record, datasets)
            positions = {}
        sources = {g.dataset_arn: self._topic(group, by_arn[g.dataset_arn][1], g.previous) for g in plan}
        targets = {g.dataset_arn: self._topic(group, by_arn[g.dataset_arn][1], g.next) for g in plan}
        # Sessions the users' events carry, before any event is judged (their anonymous events go too).
        for g in plan:
            kind = by_arn[g.dataset_arn][0]
            if kind in erasure.EVENT_DATASETS:
                ends = watermarks(self.bootstrap, sources[g.dataset_arn])
                copier.sessions(sources[g.dataset_arn], kind, ends, eraser)
        if not switched:
            for g in plan:
                kind = by_arn[g.dataset_arn][0]
                self._recreate(targets[g.dataset_arn], kind)
                positions[g.dataset_arn] = {
                    p: low for p, (low, _h) in watermarks(self.bootstrap, sources[g.dataset_arn]).items()
                }
            # Copy, then catch up with what was written meanwhile, until a round finds (almost) nothing new.
            for _round in range(5):
                moved = sum(self._copy_new(copier, g, by_arn, sources, targets, positions, eraser) for g in plan)
                if moved < 1_000:
                    break
            deleted = eraser.dropped
            self._status(
                arn, IN_PROGRESS, None,
                **{gens.SWITCHED: True, gens.COPIED: _positions_body(positions), DELETED: deleted},
            )  # fmt: skip
            self._wait(
                lambda: all(incarnation_of(self.view.get(g.dataset_arn) or {}) == g.next for g in plan),
                "control to switch the datasets to their new generation",
            )
        # The tail: writers that had not seen the switch wrote to the old topics; copy until they are quiet.
        quiet_since = time.monotonic()
        tail_started = time.monotonic()
        while time.monotonic() - quiet_since < self.settings.deletion_quiet_s:
            if time.monotonic() - tail_started > self.settings.deletion_tail_max_s:
                log.warning("old generation still written to: leaving its tail", extra={"job": arn})
                break
            if sum(self._copy_new(copier, g, by_arn, sources, targets, positions, eraser) for g in plan):
                quiet_since = time.monotonic()
            time.sleep(0.2)
        tail_dropped = eraser.dropped - (0 if switched else deleted)
        # Redis: the group's state is derived from its topics; rebuilt from the new generation (the stream
        # holds the group's partitions until this job is COMPLETED, then replays them from the beginning).
        wiped = self.wipe_group(Keys.for_group(self.prefix, group).dataset_group)
        total = deleted + max(0, tail_dropped)
        log.info(
            "data deletion job completed",
            extra={"job": arn, "users": len(users), "deleted": total, "redis_keys_wiped": wiped,
                   "seconds": round(time.monotonic() - started, 2)},
        )  # fmt: skip
        self._status(arn, COMPLETED, None, numDeleted=total)

    def _announce(
        self, arn: str, record: ResourceRecord, datasets: Mapping[str, ResourceRecord]
    ) -> list[gens.Generation]:
        """Report the generations (a retry of an attempt that never switched keeps its new incarnations and
        starts their topics over), and wait until control recorded them: from then on the stream holds the
        group and storage cleanup keeps both incarnations."""
        earlier = {g.dataset_arn: g for g in gens.generations_of(record)}
        plan: list[gens.Generation] = []
        for dataset in datasets.values():
            current = incarnation_of(dataset)
            assert current is not None  # run() refuses legacy datasets
            before = earlier.get(dataset.arn)
            nxt = before.next if before is not None and before.previous == current else new_incarnation()
            plan.append(gens.Generation(dataset.arn, current, nxt))
        body = gens.generations_body(plan)
        self._status(arn, IN_PROGRESS, None, **{gens.GENERATIONS: body})
        self._wait(
            lambda: (self.view.get(arn) or record).body.get(gens.GENERATIONS) == body,
            "control to record the job's generations",
        )
        time.sleep(self.settings.deletion_hold_grace_s)  # every stream process sees the hold and pauses
        return plan

    def _copy_new(
        self,
        copier: _Copier,
        g: gens.Generation,
        by_arn: Mapping[str, tuple[str, ResourceRecord]],
        sources: Mapping[str, str],
        targets: Mapping[str, str],
        positions: dict[str, dict[int, int]],
        eraser: erasure.Eraser,
    ) -> int:
        """Copy what the old topic holds beyond ``positions``; returns how many records were read."""
        kind = by_arn[g.dataset_arn][0]
        ends = {p: high for p, (_low, high) in watermarks(self.bootstrap, sources[g.dataset_arn]).items()}
        done = positions.setdefault(g.dataset_arn, {})
        ranges = {p: (done.get(p, 0), end) for p, end in ends.items() if end > done.get(p, 0)}
        if not ranges:
            return 0
        copier.copy(sources[g.dataset_arn], targets[g.dataset_arn], kind, ranges, eraser)
        for p, (_start, end) in ranges.items():
            done[p] = end
        return sum(end - start for start, end in ranges.values())


def _positions(raw: Any) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {}
    if isinstance(raw, Mapping):
        for arn, parts in raw.items():
            if isinstance(parts, Mapping):
                out[str(arn)] = {int(p): int(o) for p, o in parts.items()}
    return out


def _positions_body(positions: Mapping[str, Mapping[int, int]]) -> dict[str, dict[str, int]]:
    return {arn: {str(p): o for p, o in parts.items()} for arn, parts in positions.items()}


def current_record(view: ResourceReader, arn: str) -> ResourceRecord | None:
    """The job's resource record. Control writes it before it dispatches the job, but this process's view may not
    have read it yet (a busy machine, 500 ms long polls): catch the view up with the resources topic before
    calling it gone — a job judged finished from a lagging view was committed unrun and stayed PENDING."""
    record = view.get(arn)
    catch_up = getattr(view, "catch_up", None)
    if record is None and catch_up is not None:
        catch_up()
        record = view.get(arn)
    return record


def start_worker(
    settings: StreamSettings,
    view: ResourceReader,
    report: Callable[[StatusUpdate], None],
    wipe_group: Callable[[str], int],
) -> JobWorker:
    """Build and start the worker (blocking calls: run it off the event loop)."""
    ensure_topics(settings.common.kafka_bootstrap, job_topic_specs(settings.common.topic_prefix))
    stop = threading.Event()
    worker = DeletionWorker(settings, view, report, wipe_group, stop.is_set)

    def finished(job: JobRecord) -> bool:
        record = current_record(view, job.resource_arn)
        return record is None or record.body.get("status") in FINISHED

    jobs = JobWorker(
        settings.common.kafka_bootstrap,
        settings.common.topic_prefix,
        Owner.DATA_DELETION,
        {JobType.DATA_DELETION: worker.run},
        finished=finished,
        group=settings.deletion_group or None,
        stop_event=stop,
    )
    jobs.start()
    return jobs


class DeletionService(Service):
    """Runs the data deletion worker in the stream worker once the processor (its view and Redis) is up. Off
    when ``TAILOR_STREAM_DELETION_WORKER`` is false."""

    def __init__(self, settings: StreamSettings, processor: StreamProcessor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.processor = processor
        self._worker: JobWorker | None = None
        self._producer: KafkaProducer | None = None

    @Service.task
    async def _start_worker(self) -> None:
        if not self.settings.deletion_worker:
            return
        while self.processor.resources is None or self.processor.applier is None:
            if self.should_stop:
                return
            await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        self._producer = KafkaProducer(self.settings.common.kafka_bootstrap)
        reporter = StatusReporter(self._producer, self.settings.common.topic_prefix, loop)
        processor = self.processor

        def wipe_group(tag: str) -> int:
            return asyncio.run_coroutine_threadsafe(processor.wipe_group(tag), loop).result(timeout=600)

        self._worker = await asyncio.to_thread(
            start_worker, self.settings, self.processor.resources, reporter.report, wipe_group
        )

    async def on_stop(self) -> None:
        if self._worker is not None:
            await asyncio.to_thread(self._worker.stop)
        if self._producer is not None:
            self._producer.close(5.0)
