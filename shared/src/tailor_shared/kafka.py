"""The one Kafka producer wrapper and topic administration.

A write is acknowledged to a client only after the broker confirmed it (idempotent producer,
``acks=all``): :meth:`Producer.send` resolves when the delivery report arrives. A full local queue
becomes ``ThrottlingException`` (gRPC RESOURCE_EXHAUSTED) instead of blocking or dropping, and a
delivery failure becomes ``ServiceUnavailableException``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as _RawProducer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tailor_shared.errors import ServiceUnavailableException, ThrottlingException

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


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
    """asyncio front of confluent-kafka's producer; a daemon thread serves delivery callbacks."""

    def __init__(self, bootstrap: str, **overrides: Any) -> None:
        self._producer = _RawProducer(producer_config(bootstrap, **overrides))
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-producer-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    async def send(self, record: OutgoingRecord) -> Delivered:
        return (await self.send_many([record]))[0]

    async def send_many(self, records: Iterable[OutgoingRecord]) -> list[Delivered]:
        """Produce all records, then wait for every delivery report; raise if any failed."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Delivered]] = []
        for record in records:
            future: asyncio.Future[Delivered] = loop.create_future()

            def on_delivery(err: KafkaError | None, msg: Message, future: asyncio.Future[Delivered] = future) -> None:
                # RuntimeError: the caller's loop is gone; nobody waits for this report.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, future, err, msg)

            try:
                self._producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    on_delivery=on_delivery,
                )
            except BufferError:
                raise ThrottlingException("Kafka producer queue is full; retry later") from None
            except KafkaException as err:
                raise ServiceUnavailableException(f"Kafka rejected the write: {err}") from None
            futures.append(future)
        return list(await asyncio.gather(*futures))

    def send_nowait(self, record: OutgoingRecord) -> None:
        """Produce without waiting for the acknowledgement (for records a response must not wait on, such
        as impressions); a failed delivery is logged. A full queue still raises ThrottlingException."""

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                log.error("delivery to %s failed: %s", record.topic, err.str())

        try:
            self._producer.produce(
                record.topic, value=record.value, key=record.key, headers=list(record.headers), on_delivery=on_delivery
            )
        except BufferError:
            raise ThrottlingException("Kafka producer queue is full; retry later") from None

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for queued records; returns how many are still undelivered."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> None:
        remaining = self.flush(timeout)
        if remaining:
            log.error("producer closed with undelivered records", extra={"undelivered": remaining})
        self._closed.set()
        self._poller.join(timeout=1.0)


def _resolve(future: asyncio.Future[Delivered], err: KafkaError | None, msg: Message) -> None:
    if future.done():
        return
    if err is not None:
        future.set_exception(ServiceUnavailableException(f"Kafka delivery failed: {err.str()}"))
    else:
        future.set_result(Delivered(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)))


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
