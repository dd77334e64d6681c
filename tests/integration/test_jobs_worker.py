"""The jobs platform's worker loop on the real broker: a job's offset is committed only after its handler
finished (even when the handler runs longer than the group's poll interval), a worker killed mid-job has the
job redelivered to the next worker, finished jobs and other owners' jobs are skipped, a failing handler is
retried and a stopped worker leaves its job to the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from tailor_shared.jobs import JobInterrupted, JobRecord, JobType, JobWorker, Owner, job_topic_specs, jobs_topic
from tailor_shared.kafka import ensure_topics, producer_config
from tailor_tools import localstack

pytestmark = pytest.mark.integration

#: Short group timeouts: a dead member leaves within seconds, and a job that runs longer than the poll
#: interval (7 s) shows that the worker keeps polling while its handler runs.
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 7000}


class Jobs:
    """Puts jobs on ``<prefix>.jobs`` (partition 0, so their order is known) and reads the group's commits."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        ensure_topics(bootstrap, job_topic_specs(prefix))
        self.bootstrap, self.prefix, self.topic = bootstrap, prefix, jobs_topic(prefix)
        self.group = f"{prefix}.ingest-jobs"

    def submit(self, name: str, job_type: JobType = JobType.DATASET_IMPORT) -> tuple[str, int]:
        """Returns the job's ARN and offset."""
        arn = f"arn:aws:personalize:us-east-1:000000000000:dataset-import-job/{self.prefix}-{name}"
        job = JobRecord(job_type, arn, "datasetImportJob", {"name": name}, time.time())
        producer = Producer(producer_config(self.bootstrap))
        delivered: list[Message] = []
        errors: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(err)
            else:
                delivered.append(msg)

        producer.produce(self.topic, job.to_json(), arn.encode(), partition=0, on_delivery=on_delivery)
        assert producer.flush(30) == 0 and not errors, errors
        return arn, int(delivered[0].offset() or 0)

    def committed(self) -> int:
        """The group's committed offset on partition 0 (negative: none)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group})
        try:
            [tp] = consumer.committed([TopicPartition(self.topic, 0)], timeout=30)
            return int(tp.offset)
        finally:
            consumer.close()

    def wait_committed(self, offset: int, timeout: float = 30.0) -> None:
        wait_until(lambda: self.committed() >= offset, timeout, f"offset {offset} committed")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def jobs(stack: localstack.StackConfig, topic_prefix: str) -> Jobs:
    return Jobs(stack.kafka_bootstrap, topic_prefix)


@pytest.fixture
def workers(jobs: Jobs) -> Iterator[Callable[..., JobWorker]]:
    """Starts ingest-owned workers on the test's prefix; all are stopped afterwards."""
    started: list[JobWorker] = []

    def start(handler: Callable[[JobRecord], object], **options: object) -> JobWorker:
        worker = JobWorker(
            jobs.bootstrap,
            jobs.prefix,
            Owner.INGEST,
            {JobType.DATASET_IMPORT: handler},
            consumer_config=FAST_GROUP,
            **options,  # type: ignore[arg-type]
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(timeout=10)


def test_a_job_is_committed_only_after_its_handler_finished(jobs: Jobs, workers: Callable[..., JobWorker]) -> None:
    started, release = threading.Event(), threading.Event()

    def handler(_job: JobRecord) -> None:
        started.set()
        release.wait(60)

    worker = workers(handler)
    _arn, offset = jobs.submit("slow")
    assert started.wait(60), "the job never started"
    time.sleep(9)  # longer than max.poll.interval.ms: the worker keeps its membership while the job runs
    assert jobs.committed() < 0, "committed before the handler finished"
    release.set()
    jobs.wait_committed(offset + 1)
    assert worker.jobs_run == 1


def test_a_worker_killed_mid_job_has_the_job_redelivered(
    jobs: Jobs, workers: Callable[..., JobWorker], tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    env = {**os.environ, "JOBS_KAFKA": jobs.bootstrap, "JOBS_PREFIX": jobs.prefix, "JOBS_MARKER": str(marker)}
    app = Path(__file__).with_name("jobs_worker_app.py")
    with (tmp_path / "worker.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(app)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        arn, offset = jobs.submit("crash")
        wait_until(lambda: marker.exists() or proc.poll() is not None, 60, "the first worker to start the job")
        assert proc.poll() is None, (tmp_path / "worker.log").read_text()
        assert marker.read_text() == arn
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert jobs.committed() < 0

    ran: list[str] = []
    worker = workers(lambda job: ran.append(job.resource_arn))
    jobs.wait_committed(offset + 1, timeout=60)
    assert ran == [arn] and worker.jobs_run == 1


def test_finished_jobs_and_other_owners_jobs_are_skipped(jobs: Jobs, workers: Callable[..., JobWorker]) -> None:
    done, _ = jobs.submit("done")
    jobs.submit("training", JobType.SOLUTION_VERSION)
    todo, last = jobs.submit("todo")
    ran: list[str] = []
    worker = workers(lambda job: ran.append(job.resource_arn), finished=lambda job: job.resource_arn == done)
    jobs.wait_committed(last + 1)
    assert ran == [todo] and worker.jobs_run == 1


def test_a_failing_handler_is_retried_before_the_job_is_committed(
    jobs: Jobs, workers: Callable[..., JobWorker]
) -> None:
    calls: list[str] = []

    def handler(job: JobRecord) -> None:
        calls.append(job.resource_arn)
        if len(calls) == 1:
            raise ConnectionError("Kafka is unreachable")  # e.g. the status report could not be sent

    arn, offset = jobs.submit("flaky")
    worker = workers(handler, retry_backoff_s=0.2)
    jobs.wait_committed(offset + 1)
    assert calls == [arn, arn] and worker.jobs_run == 1


def test_a_stopped_worker_leaves_its_job_to_the_next_one(jobs: Jobs, workers: Callable[..., JobWorker]) -> None:
    stop, started = threading.Event(), threading.Event()

    def interruptible(_job: JobRecord) -> None:
        started.set()
        stop.wait(60)
        raise JobInterrupted("shutting down")

    first = workers(interruptible, stop_event=stop)
    arn, offset = jobs.submit("interrupted")
    assert started.wait(60)
    first.stop(timeout=10)
    assert jobs.committed() < 0 and first.jobs_run == 0

    ran: list[str] = []
    workers(lambda job: ran.append(job.resource_arn))
    jobs.wait_committed(offset + 1, timeout=60)
    assert ran == [arn]
