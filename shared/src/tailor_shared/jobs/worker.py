"""The one worker loop on ``<prefix>.jobs``: a member of its owner's consumer group, one job at a time.

- **Off the event loop.** The consumer lives on its own thread; each job runs on a second thread while the
  consumer keeps polling with its partitions paused, so a job of any length (hours of training) never
  drops the worker out of the group — no long ``max.poll.interval.ms`` is needed.
- **Commit after the job.** A job's offset is committed only after its handler returned. A worker that
  crashes or is stopped mid-job commits nothing: the job is delivered again to the next member of the group
  (or to this worker after a restart) — at-least-once, so handlers are idempotent (ADR 0011).
- **Skip finished jobs.** Before running a redelivered job the worker asks ``finished(job)`` (typically: is
  the resource already in a final status?) and commits without running it when it is.
- **Failures.** A handler reports its own failures (a status such as ``CREATE FAILED``) and returns. An
  exception that escapes it (Kafka or Redis unreachable, a bug) leaves the job uncommitted: the worker
  seeks back and retries it after a growing pause. :class:`JobInterrupted` means "stopping, run me again".
- Other owners' job types, and records that are not jobs of a known type, are committed and skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from tailor_shared.jobs.protocol import (
    FOLLOWS_RESOURCES,
    OWNERS,
    JobInterrupted,
    JobRecord,
    JobType,
    Owner,
    Route,
    jobs_group,
    jobs_topic,
    route,
)
from tailor_shared.kafka import CLIENT_DEFAULTS, IDLE_FETCH_WAIT_MS, IDLE_GROUP_HEARTBEAT_MS, kafka_config

log = logging.getLogger(__name__)

Handler = Callable[[JobRecord], object]


def never_finished(_job: JobRecord) -> bool:
    return False


class JobWorker:
    """``owner``'s worker: ``handlers`` maps each job type it runs (all owned by ``owner``) to a handler
    called on the job thread. ``stop_event`` lets handlers see a shutdown (pass the same event to them, or
    use :meth:`stopping`)."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        owner: Owner,
        handlers: Mapping[JobType, Handler],
        *,
        finished: Callable[[JobRecord], bool] = never_finished,
        group: str | None = None,
        stop_event: threading.Event | None = None,
        consumer_config: Mapping[str, Any] | None = None,
        retry_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
    ) -> None:
        if owner == FOLLOWS_RESOURCES:
            raise ValueError("job types that follow resource records have no worker")
        foreign = sorted(t.value for t in handlers if OWNERS[t] != owner)
        if foreign:
            raise ValueError(f"the {owner.value} worker cannot handle {foreign}: see OWNERS")
        self.owner = owner
        self.group = group or jobs_group(prefix, owner)
        self._topic = jobs_topic(prefix)
        self._handlers = dict(handlers)
        self._handled = frozenset(handlers)
        self._finished = finished
        self._config: dict[str, Any] = {
            **kafka_config(bootstrap),
            "group.id": self.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 45_000,
            "heartbeat.interval.ms": IDLE_GROUP_HEARTBEAT_MS,
            "fetch.wait.max.ms": IDLE_FETCH_WAIT_MS,
            **CLIENT_DEFAULTS,
            **(consumer_config or {}),
        }
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._grace_until = float("inf")
        self._backoff = (retry_backoff_s, max_backoff_s)
        self._failures = 0
        self._thread: threading.Thread | None = None
        self.jobs_run = 0

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Join the group and start the consumer thread (returns at once)."""
        consumer = Consumer(self._config)
        consumer.subscribe([self._topic])
        self._thread = threading.Thread(
            target=self._run, args=(consumer,), name=f"{self.owner.value}-job-worker", daemon=True
        )
        self._thread.start()
        log.info("job worker started", extra={"group": self.group, "jobTypes": sorted(self._handled)})

    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the running job to stop (``stop_event``) and wait up to ``timeout`` for it; a job that does not
        finish in time stays uncommitted and runs again elsewhere."""
        self._grace_until = time.monotonic() + max(timeout - 2.0, 0.0)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the loop -----------------------------------------------------------------------------------------
    def _run(self, consumer: Consumer) -> None:
        try:
            while not self._stop.is_set():
                msg = _poll(consumer, 0.5)
                if msg is not None:
                    self._handle(consumer, msg)
        except Exception:
            log.exception("job worker stopped by an error", extra={"group": self.group})
        finally:
            consumer.close()

    def _handle(self, consumer: Consumer, msg: Message) -> None:
        try:
            decision, job = route(msg.value(), self._handled, self._finished)
        except Exception:
            log.exception("cannot tell whether the job at offset %s is finished", msg.offset())
            self._retry_later(consumer, msg)
            return
        if decision is Route.MALFORMED:
            log.warning("skipping a record that is not a known job", extra={"offset": msg.offset()})
        elif decision is Route.FINISHED and job is not None:
            log.info("job already finished; skipping the redelivery", extra={"job": job.resource_arn})
        if decision is not Route.RUN or job is None:
            _commit(consumer, msg)
            return
        log.info("job started", extra={"job": job.resource_arn, "jobType": job.job_type.value})
        outcome, reread = self._run_job(consumer, job, msg)
        if outcome == "done":
            self._failures = 0
            _commit(consumer, msg)
            if reread:  # a rebalance handed the job's partition back mid-job: don't read the job again
                _seek(consumer, msg, offset=int(msg.offset() or 0) + 1)
            self.jobs_run += 1
            log.info("job finished", extra={"job": job.resource_arn, "jobType": job.job_type.value})
        elif outcome == "failed" or not self._stop.is_set():
            self._retry_later(consumer, msg)  # (a handler that gave up although the worker goes on: retry too)
        else:
            log.warning("job interrupted; it will be delivered again", extra={"job": job.resource_arn})
            _seek(consumer, msg)

    def _run_job(self, consumer: Consumer, job: JobRecord, msg: Message) -> tuple[str, bool]:
        """Run the handler on its own thread while polling (paused) to keep the group membership; returns
        "done", "failed" or "interrupted", and whether the job's own partition was sought back meanwhile."""
        outcome: list[str] = []
        handler = self._handlers[job.job_type]

        def target() -> None:
            try:
                handler(job)
                outcome.append("done")
            except JobInterrupted:
                outcome.append("interrupted")
            except Exception:
                log.exception("job handler failed; the job will be retried", extra={"job": job.resource_arn})
                outcome.append("failed")

        thread = threading.Thread(target=target, name=f"{self.owner.value}-job", daemon=True)
        _pause(consumer)
        thread.start()
        reread = False
        while thread.is_alive():
            if self._stop.is_set() and time.monotonic() >= self._grace_until:
                return "interrupted", reread  # the job thread dies with the process; nothing was committed
            other = _poll(consumer, 0.2)
            if other is not None:  # a partition assigned during the job: read it again later
                reread = reread or (other.topic(), other.partition()) == (msg.topic(), msg.partition())
                _seek(consumer, other)
                _pause(consumer)
        _resume(consumer)
        return (outcome[0] if outcome else "failed"), reread

    def _retry_later(self, consumer: Consumer, msg: Message) -> None:
        self._failures += 1
        low, high = self._backoff
        pause = min(low * 2 ** (self._failures - 1), high)
        _seek(consumer, msg)
        self._stop.wait(pause)


def _poll(consumer: Consumer, timeout: float) -> Message | None:
    msg = consumer.poll(timeout)
    if msg is None:
        return None
    err = msg.error()
    if err is not None:
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("jobs consumer error: %s", err)
        return None
    return msg


def _pause(consumer: Consumer) -> None:
    consumer.pause(consumer.assignment())


def _resume(consumer: Consumer) -> None:
    consumer.resume(consumer.assignment())


def _seek(consumer: Consumer, msg: Message, offset: int | None = None) -> None:
    """Read ``msg`` (or ``offset`` of its partition) again on the next poll (never drop a job that was not
    run)."""
    where = int(msg.offset() or 0) if offset is None else offset
    try:
        consumer.seek(TopicPartition(str(msg.topic()), int(msg.partition() or 0), where))
    except KafkaException as err:  # the partition moved to another member, which reads from the commit
        log.info("cannot seek back (%s); the partition's new owner reads the job", err)


def _commit(consumer: Consumer, msg: Message) -> None:
    try:
        consumer.commit(message=msg, asynchronous=False)
    except KafkaException as err:
        log.warning("cannot commit the job offset (the job may run again): %s", err)
