"""A local, always-current view of the control-plane resources, folded from the compacted topic.

This is the GlobalKTable pattern: every service that needs resources (control itself, ingest, runtime,
trainer) consumes ``<prefix>.control.resources`` from the beginning on a background thread and keeps
the latest record per ARN in memory. Kafka is the record; this view is rebuilt on every start.
The writer gets read-your-writes by waiting until the view has consumed the offset it produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.kafka import (
    CLIENT_DEFAULTS,
    VIEW_FETCH_WAIT_MS,
    TopicSpec,
    ensure_topics,
    kafka_config,
    latest_offsets,
)
from tailor_shared.resources import InMemoryResources, ResourceRecord

log = logging.getLogger(__name__)

Listener = Callable[[str, ResourceRecord | None], None]


def resources_topic(prefix: str) -> str:
    return f"{prefix}.control.resources"


def resources_topic_spec(prefix: str) -> TopicSpec:
    # One partition: a total order of resource changes, and a tiny topic.
    return TopicSpec(
        resources_topic(prefix),
        partitions=1,
        config={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"},
    )


def _end_offset(consumer: Consumer, topic: str, timeout: float = 30.0) -> int:
    """The partition's end offset; a topic created a moment ago may not be in metadata yet, so retry."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
            return int(high)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class ResourceView(InMemoryResources):
    """``ResourceReader`` backed by the resources topic; start it, await ``ready()``, then read."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        super().__init__()
        self.topic = resources_topic(prefix)
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._consumed = -1  # offset of the last record applied
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._initial_end = 0
        self._error: str | None = None

    def add_listener(self, listener: Listener) -> None:
        """Called on the consumer thread for each applied change (record or None for a deletion)."""
        self._listeners.append(listener)

    def change_event(self) -> asyncio.Event:
        """An event of the running loop, set after each applied change. Periodic work over the view waits on
        it (with a long timeout) instead of walking the view several times a second while nothing changes
        (docs/benchmarks.md "Idle cost"); the waiter clears it before it looks at the view."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def changed(_arn: str, _record: ResourceRecord | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed while the view still ran (shutdown)
                loop.call_soon_threadsafe(event.set)

        self.add_listener(changed)
        return event

    def start(self) -> None:
        ensure_topics(self._bootstrap, [resources_topic_spec(self._prefix)])
        consumer = Consumer(
            {
                **kafka_config(self._bootstrap),
                "group.id": f"resource-view-{uuid.uuid4().hex}",  # never committed: always read it all
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                # Read-your-writes does not wait on this: the broker answers the fetch when the record lands.
                "fetch.wait.max.ms": VIEW_FETCH_WAIT_MS,
                **CLIENT_DEFAULTS,  # control's writes wait on this view: it must see the broker back at once
            }
        )
        tp = TopicPartition(self.topic, 0, OFFSET_BEGINNING)
        self._initial_end = _end_offset(consumer, self.topic)
        consumer.assign([tp])
        self._thread = threading.Thread(target=self._run, args=(consumer,), name="resource-view", daemon=True)
        self._thread.start()

    def _run(self, consumer: Consumer) -> None:
        try:
            while not self._stop.is_set():
                # poll() returns as soon as one record arrives; consume(n, timeout) would wait for all n.
                first = consumer.poll(1.0)  # returns at once on a record; the timeout only bounds stop()
                if first is None:
                    continue
                msgs = [first, *consumer.consume(500, 0)]
                for msg in msgs:
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("resource view consumer error: %s", err)
                        continue
                    self._apply(msg.key(), msg.value())
                    with self._cond:
                        self._consumed = int(msg.offset() or 0)
                        self._cond.notify_all()
        except Exception as exc:  # a broken view must be loud, not silently stale
            self._error = repr(exc)
            log.exception("resource view stopped")
        finally:
            consumer.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        arn = key.decode()
        if value is None:
            self.delete(arn)
            record = None
        else:
            record = ResourceRecord.from_json(value)
            self.put(record)
        for listener in self._listeners:
            try:
                listener(arn, record)
            except Exception:
                log.exception("resource listener failed for %s", arn)

    def wait_for_offset(self, offset: int, timeout: float = 30.0) -> None:
        """Block until the record at ``offset`` has been applied (read-your-writes)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._consumed < offset:
                if self._error:
                    raise ServiceUnavailableException(f"resource view failed: {self._error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServiceUnavailableException("resource view did not catch up with Kafka in time")
                self._cond.wait(min(remaining, 0.5))

    async def wait_for_offset_async(self, offset: int, timeout_s: float = 30.0) -> None:
        if self._consumed >= offset:
            return
        await asyncio.to_thread(self.wait_for_offset, offset, timeout_s)

    def catch_up(self, timeout: float = 30.0) -> None:
        """Block until the view holds everything on the topic now. A worker calls it before acting on a job:
        control writes a resource's record before it dispatches the job, so after this the view has it."""
        tp = TopicPartition(self.topic, 0)
        deadline = time.monotonic() + timeout
        while True:  # asked through the process's one admin client: no new connection per catch-up (ADR 0030)
            try:
                end = latest_offsets(self._bootstrap, [tp], timeout)[tp]
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.wait_for_offset(end - 1, timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until everything that was on the topic at start has been applied."""
        self.wait_for_offset(self._initial_end - 1, timeout)

    async def ready(self, timeout_s: float = 60.0) -> None:
        await asyncio.to_thread(self.wait_ready, timeout_s)

    @property
    def consumed_offset(self) -> int:
        return self._consumed

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
