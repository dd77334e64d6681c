"""Kafka side of ingest: topic creation for Put* calls and the bulk producer of import jobs (the jobs
consumer and the status reports are ``tailor_shared.jobs``'s).

Put* writes are acknowledged only after the broker confirmed every record (idempotent producer, acks=all);
a failed delivery surfaces as ``ServiceUnavailableException`` and a full local queue as
``ThrottlingException`` — never a silent drop (DESIGN.md principle 1).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as RawProducer

from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.kafka import TopicSpec, ensure_topics, producer_config
from tailor_shared.topics import KEEP_FOREVER_MS, topic_spec

log = logging.getLogger(__name__)


class TopicGuard:
    """Creates each dataset topic the first time this process writes to it, with the configured retention."""

    def __init__(self, bootstrap: str, retention_ms: int = KEEP_FOREVER_MS) -> None:
        self._bootstrap = bootstrap
        self._retention_ms = retention_ms
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

    def dataset_spec(self, topic: str, dataset_type: str) -> TopicSpec:
        return topic_spec(topic, dataset_type, self._retention_ms)


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
        """The topic's partitions. A topic just created may not be in every broker's metadata yet (a cluster
        learns it from the controller a moment later, ADR 0025): asked again until ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = self._producer.list_topics(topic, timeout=timeout).topics.get(topic)
            except KafkaException as err:
                raise ServiceUnavailableException(f"cannot read metadata of {topic}: {err}") from None
            if info is not None and info.error is None and info.partitions:
                return sorted(info.partitions)
            if time.monotonic() > deadline:
                raise ServiceUnavailableException(f"topic {topic} has no partitions")
            time.sleep(0.1)

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
