"""Kafka side of control: write resource changes and jobs, and consume workers' status reports."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, Message

from tailor_control.domain import Delete, Job, Put
from tailor_shared.jobs import JobRecord, StatusUpdate, job_status_topic, jobs_topic
from tailor_shared.kafka import (
    CLIENT_DEFAULTS,
    IDLE_FETCH_WAIT_MS,
    IDLE_GROUP_HEARTBEAT_MS,
    OutgoingRecord,
    Producer,
    kafka_config,
)
from tailor_shared.resource_view import ResourceView

log = logging.getLogger(__name__)


class ResourceWriter:
    """The single writer of resource records: produce, then wait until our own view has them."""

    def __init__(self, producer: Producer, view: ResourceView, prefix: str) -> None:
        self._producer = producer
        self._view = view
        self._jobs_topic = jobs_topic(prefix)

    def check_available(self) -> None:
        """Refuse a request at once (ServiceUnavailableException) while Kafka is known down, before anything is
        validated or written: a create must neither hang nor be acknowledged without its record (ADR 0025).
        Writes already under way keep waiting for their delivery report, so a resource record never lands
        without the job that goes with it."""
        self._producer.check_available()

    @property
    def broker_down(self) -> bool:
        return self._producer.broker_down

    async def write(self, changes: Sequence[Put | Delete], jobs: Sequence[Job], now: float) -> None:
        records = [
            OutgoingRecord(
                self._view.topic,
                c.record.to_json() if isinstance(c, Put) else None,
                (c.record.arn if isinstance(c, Put) else c.arn).encode(),
            )
            for c in changes
        ]
        delivered = await self._producer.send_many(records) if records else []
        # Jobs go out only after the resource records they refer to are durable.
        if jobs:
            await self._producer.send_many(
                OutgoingRecord(
                    self._jobs_topic,
                    JobRecord(j.job_type, j.resource_arn, j.resource_type, j.payload, now).to_json(),
                    j.resource_arn.encode(),
                )
                for j in jobs
            )
        if delivered:
            await self._view.wait_for_offset_async(max(d.offset for d in delivered))


class StatusConsumer:
    """Reads ``job-status`` in a consumer group and hands each report to control's loop, in order."""

    def __init__(self, bootstrap: str, prefix: str, group: str) -> None:
        self._consumer = Consumer(
            {
                **kafka_config(bootstrap),
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": IDLE_FETCH_WAIT_MS,
                "session.timeout.ms": 45_000,  # librdkafka's default, stated: the heartbeat must stay below it
                "heartbeat.interval.ms": IDLE_GROUP_HEARTBEAT_MS,
                **CLIENT_DEFAULTS,
            }
        )
        self._consumer.subscribe([job_status_topic(prefix)])
        self._stop = threading.Event()

    async def run(self, apply: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Loop until :meth:`request_stop`; then the caller closes the consumer (never mid-poll)."""
        while not self._stop.is_set():
            msgs = await asyncio.to_thread(self._next_batch)
            for msg in msgs:
                raw = msg.value()
                if msg.error() is not None or raw is None:
                    continue
                try:
                    update = StatusUpdate.parse(raw)
                except ValueError:
                    log.warning("ignoring malformed job status at offset %s", msg.offset())
                    continue
                await apply(update)
            if msgs:
                await asyncio.to_thread(self._consumer.commit, asynchronous=False)

    def _next_batch(self) -> list[Message]:
        """The reports there are, as soon as one is: ``consume(n, timeout)`` waited for n reports or the whole
        timeout, so a lone report sat there up to that long. The 1 s wait only bounds a stop, and an idle control
        hops threads once a second rather than twice (ADR 0030 §13)."""
        first = self._consumer.poll(1.0)
        if first is None:
            return []
        return [first, *self._consumer.consume(99, 0)]

    def request_stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._consumer.close()
