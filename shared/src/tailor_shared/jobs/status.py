"""The one path of status reports to ``<prefix>.job-status``: every worker (and the runtime) reports here.

Reports go through ``tailor_shared.kafka.Producer`` (idempotent, ``acks=all``) and a report returns only
after the broker acknowledged it: a status the worker believes sent is durable. The producer lives on an
event loop; :meth:`StatusReporter.send` is for code on that loop, :meth:`StatusReporter.report` for worker
threads (it hands the write to the loop and waits).
"""

from __future__ import annotations

import asyncio

from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.jobs.protocol import StatusUpdate, job_status_topic
from tailor_shared.kafka import OutgoingRecord, Producer


class StatusReporter:
    def __init__(self, producer: Producer, prefix: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """``loop`` is the event loop the producer is used from (default: the running one)."""
        self._producer = producer
        self._topic = job_status_topic(prefix)
        self._loop = loop if loop is not None else asyncio.get_running_loop()

    def record(self, update: StatusUpdate) -> OutgoingRecord:
        return OutgoingRecord(self._topic, update.to_json(), update.resource_arn.encode())

    async def send(self, update: StatusUpdate) -> None:
        """Report from the producer's event loop; resolves once the broker acknowledged the report."""
        await self._producer.send(self.record(update))

    def report(self, update: StatusUpdate, timeout: float = 60.0) -> None:
        """Report from a worker thread (never from the loop itself): blocks until acknowledged; raises
        ``ServiceUnavailableException`` if it was not."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError("StatusReporter.report blocks: call it from a worker thread, or await send()")
        future = asyncio.run_coroutine_threadsafe(self.send(update), self._loop)
        try:
            future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()
            raise ServiceUnavailableException(
                f"status report for {update.resource_arn} not acknowledged in {timeout:.0f}s"
            ) from None
