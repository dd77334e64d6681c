"""Kafka side of ingest: dataset writes for Put* calls, the bulk producer of import jobs, the jobs consumer
and the status reports to control.

Put* writes are acknowledged only after the broker confirmed every record (idempotent producer, acks=all);
a failed delivery surfaces as ``ServiceUnavailableException`` and a full local queue as
``ThrottlingException`` — never a silent drop (DESIGN.md principle 1).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka import Producer as RawProducer

from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.jobs import StatusUpdate, job_status_topic, jobs_topic
from tailor_shared.kafka import TopicSpec, ensure_topics, producer_config

log = logging.getLogger(__name__)


class TopicGuard:
    """Creates each dataset topic the first time this process writes to it (control may have already)."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def ensure(self, spec: TopicSpec) -> None:
        if spec.name in self._known:
            return
        with self._lock:
            if spec.name not in self._known:
                ensure_topics(self._bootstrap, [spec])
                self._known.add(spec.name)

    async def ensure_async(self, spec: TopicSpec) -> None:
        if spec.name not in self._known:
            await asyncio.to_thread(self.ensure, spec)


class BulkProducer:
    """The import job's producer: throughput first (large batches, only failures reported), still
    idempotent and acks=all; ``flush_or_raise`` tells whether every record made it."""

    def __init__(self, bootstrap: str, **overrides: Any) -> None:
        self._errors: list[str] = []
        config = producer_config(
            bootstrap,
            **{
                "linger.ms": 20,
                "batch.size": 1_000_000,
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
                **overrides,
            },
        )
        self._producer = RawProducer(config)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(err.str())

    def partitions(self, topic: str, timeout: float = 30.0) -> list[int]:
        try:
            info = self._producer.list_topics(topic, timeout=timeout).topics.get(topic)
        except KafkaException as err:
            raise ServiceUnavailableException(f"cannot read metadata of {topic}: {err}") from None
        if info is None or info.error is not None or not info.partitions:
            raise ServiceUnavailableException(f"topic {topic} has no partitions")
        return sorted(info.partitions)

    def produce(
        self, topic: str, value: bytes, key: bytes | None, headers: list[Any], partition: int | None = None
    ) -> None:
        """Queue one record; waits (serving delivery reports) while the local queue is full."""
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key, headers=headers)
                else:
                    self._producer.produce(topic, value, key, partition=partition, headers=headers)
                return
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as err:
                raise ServiceUnavailableException(f"Kafka rejected the write: {err}") from None

    def poll(self) -> None:
        self._producer.poll(0)

    def flush_or_raise(self, timeout: float = 120.0) -> None:
        remaining = int(self._producer.flush(timeout))
        if remaining:
            raise ServiceUnavailableException(f"{remaining} records were not delivered to Kafka in {timeout:.0f}s")
        if self._errors:
            raise ServiceUnavailableException(
                f"{len(self._errors)} records failed delivery to Kafka, first: {self._errors[0]}"
            )


class StatusReporter:
    """Workers' reports to control on ``<prefix>.job-status`` (control alone turns them into resources)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._topic = job_status_topic(prefix)
        self._producer = RawProducer(producer_config(bootstrap))
        self._lock = threading.Lock()

    def report(self, update: StatusUpdate, timeout: float = 30.0) -> None:
        """Send and wait for the acknowledgement: a status the worker believes sent must be durable."""
        failures: list[str] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        with self._lock:
            self._producer.produce(self._topic, update.to_json(), update.resource_arn.encode(), on_delivery=on_delivery)
            remaining = int(self._producer.flush(timeout))
        if remaining or failures:
            raise ServiceUnavailableException(
                f"status report for {update.resource_arn} not delivered: {failures or 'timeout'}"
            )


class JobConsumer:
    """The worker's membership in the jobs consumer group; offsets are committed after a job finished
    (at-least-once: a job interrupted by a crash is delivered again)."""

    def __init__(self, bootstrap: str, prefix: str, group: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # Long imports are run while the consumer keeps polling with its partitions paused.
                "max.poll.interval.ms": 600_000,
                "session.timeout.ms": 45_000,
            }
        )
        self._consumer.subscribe([jobs_topic(prefix)])

    def poll(self, timeout: float) -> Message | None:
        msg = self._consumer.poll(timeout)
        if msg is None:
            return None
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("jobs consumer error: %s", err)
            return None
        return msg

    def pause(self) -> None:
        self._consumer.pause(self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(self._consumer.assignment())

    def rewind(self, msg: Message) -> None:
        """A job that arrived while another was running is read again later (never dropped)."""
        self._consumer.seek(TopicPartition(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)))
        self.pause()

    def commit(self, msg: Message) -> None:
        try:
            self._consumer.commit(message=msg, asynchronous=False)
        except KafkaException as err:
            log.warning("cannot commit job offset (the job may run again): %s", err)

    def close(self) -> None:
        self._consumer.close()
