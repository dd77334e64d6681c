"""The one Kafka producer wrapper and topic administration.

A write is acknowledged to a client only after the broker confirmed it (idempotent producer,
``acks=all``): :meth:`Producer.send` resolves when the delivery report arrives. A full local queue
becomes ``ThrottlingException`` (gRPC RESOURCE_EXHAUSTED) instead of blocking or dropping, and a
delivery failure becomes ``ServiceUnavailableException``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as _RawProducer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client import Counter

from tailor_shared.errors import ServiceUnavailableException, ThrottlingException
from tailor_shared.metrics import metric_name

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


# Per process: every Tailor service that writes to Kafka produces through this one class.
PRODUCED = Counter(
    metric_name("kafka", "produced_records", "total"), "Records produced to Kafka, by delivery outcome", ["outcome"]
)
REFUSED = Counter(metric_name("kafka", "produce_refused", "total"), "Writes refused before Kafka (queue full)")


@dataclass(frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Durable defaults: idempotence implies acks=all and ordered retries per partition."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 1,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 100_000,
        "message.timeout.ms": 30_000,
    }
    config.update(overrides)
    return config


class Producer:
    """asyncio front of confluent-kafka's producer.

    Delivery reports are served on the event loop (``poll(0)`` about every half millisecond while records
    are in flight) rather than by a thread, so callbacks resolve futures directly with no cross-thread
    wake-ups; that keeps the acknowledgement latency of a small write low. Use it from one event loop
    (other threads hand coroutines over with ``asyncio.run_coroutine_threadsafe``).
    """

    def __init__(self, bootstrap: str, **overrides: Any) -> None:
        config = producer_config(bootstrap, **overrides)
        self._capacity = int(config["queue.buffering.max.messages"])
        self._producer = _RawProducer(config)
        self._in_flight = 0
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def _start(self) -> asyncio.Event:
        if self._wake is None or self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._serve_reports(self._wake))
        return self._wake

    async def _serve_reports(self, wake: asyncio.Event) -> None:
        poll = self._producer.poll
        while not self._closed:
            if self._in_flight <= 0:
                wake.clear()
                await wake.wait()
                continue
            poll(0)
            await asyncio.sleep(0.0005)

    async def send(self, record: OutgoingRecord) -> Delivered:
        return (await self.send_many([record]))[0]

    async def send_many(self, records: Iterable[OutgoingRecord]) -> list[Delivered]:
        """Produce every record, then wait until all are acknowledged; raise if any delivery failed. A call
        that would not fit in the local queue is refused whole, so it is never half written."""
        batch = list(records)
        if not batch:
            return []
        if len(self._producer) + len(batch) > self._capacity:
            REFUSED.inc()
            raise ThrottlingException("Kafka producer queue is full; retry later")
        wake = self._start()
        future: asyncio.Future[list[Delivered]] = asyncio.get_running_loop().create_future()
        results: list[Delivered | None] = [None] * len(batch)
        errors: list[str] = []
        pending = [len(batch)]

        def report_for(i: int) -> Any:
            def report(err: KafkaError | None, msg: Message) -> None:
                # Runs inside poll(0) on the event loop thread.
                self._in_flight -= 1
                PRODUCED.labels("error" if err is not None else "ok").inc()
                if err is not None:
                    errors.append(err.str())
                else:
                    results[i] = Delivered(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
                pending[0] -= 1
                if pending[0] == 0 and not future.done():
                    if errors:
                        future.set_exception(ServiceUnavailableException(f"Kafka delivery failed: {errors[0]}"))
                    else:
                        future.set_result([r for r in results if r is not None])

            return report

        produce = self._producer.produce
        try:
            for i, record in enumerate(batch):
                produce(record.topic, record.value, record.key, headers=list(record.headers), on_delivery=report_for(i))
                self._in_flight += 1
        except BufferError:
            future.cancel()
            REFUSED.inc()
            raise ThrottlingException("Kafka producer queue is full; retry later") from None
        except KafkaException as err:
            future.cancel()
            raise ServiceUnavailableException(f"Kafka rejected the write: {err}") from None
        finally:
            wake.set()
        return await future

    def send_nowait(self, record: OutgoingRecord) -> None:
        """Produce without waiting for the acknowledgement (records a response must not wait on, such as
        impressions); a failed delivery is logged. Call it from the event loop."""
        wake = self._start()

        def report(err: KafkaError | None, msg: Message) -> None:
            self._in_flight -= 1
            PRODUCED.labels("error" if err is not None else "ok").inc()
            if err is not None:
                log.error("delivery to %s failed: %s", record.topic, err.str())

        try:
            self._producer.produce(
                record.topic, record.value, record.key, headers=list(record.headers), on_delivery=report
            )
            self._in_flight += 1
        except BufferError:
            REFUSED.inc()
            raise ThrottlingException("Kafka producer queue is full; retry later") from None
        finally:
            wake.set()

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for queued records; returns how many are still undelivered."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (call after the server drained its calls)."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        remaining = self.flush(timeout)
        if remaining:
            log.error("producer closed with undelivered records", extra={"undelivered": remaining})


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], timeout: float = 30.0) -> None:
    """Create the topics that don't exist yet; an existing topic is left as it is."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=dict(s.config)) for s in specs]
    if not new:
        return
    for name, future in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as err:
            if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ServiceUnavailableException(f"cannot create topic {name}: {err}") from None
