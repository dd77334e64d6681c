"""The import/export job worker: a member of the ingest consumer group on ``<prefix>.jobs``.

It handles only dataset import and export jobs (other job types belong to the trainer's group and are
skipped). One job runs at a time on its own thread while the consumer keeps polling with its partitions
paused, so a long import never drops the worker out of the group. The offset is committed after the job
finished: a job interrupted by a crash or a shutdown is delivered again, and the import-start markers make
the retry replace the interrupted attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import Message

from tailor_ingest import domain
from tailor_ingest.adapters import JobConsumer, StatusReporter, TopicGuard
from tailor_ingest.config import IngestSettings
from tailor_ingest.exporter import Exporter
from tailor_ingest.importer import Importer
from tailor_shared.jobs import JobRecord, job_topic_specs
from tailor_shared.kafka import ensure_topics
from tailor_shared.resources import ResourceReader

log = logging.getLogger(__name__)

_FINISHED = frozenset({"ACTIVE", "CREATE FAILED"})


def runner_kind(job: JobRecord) -> str | None:
    """ "import", "export" or None (not ours). Control names jobs by operation or by kind; accept both."""
    if job.job_type in domain.IMPORT_JOB_TYPES or job.resource_type == "datasetImportJob":
        return "import"
    if job.job_type in domain.EXPORT_JOB_TYPES or job.resource_type == "datasetExportJob":
        return "export"
    return None


class JobWorker:
    def __init__(self, settings: IngestSettings, view: ResourceReader, topics: TopicGuard) -> None:
        self._settings = settings
        self._view = view
        self._stop = threading.Event()
        self._reporter = StatusReporter(settings.common.kafka_bootstrap, settings.prefix)
        self._importer = Importer(settings, view, topics, self._reporter.report, self._stop.is_set)
        self._exporter = Exporter(settings, view, self._reporter.report)
        self._thread: threading.Thread | None = None
        self.jobs_run = 0

    def start(self) -> None:
        ensure_topics(self._settings.common.kafka_bootstrap, job_topic_specs(self._settings.prefix))
        self._thread = threading.Thread(target=self._run, name="ingest-job-worker", daemon=True)
        self._thread.start()
        log.info("job worker started", extra={"group": self._settings.jobs_group})

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        consumer = JobConsumer(self._settings.common.kafka_bootstrap, self._settings.prefix, self._settings.jobs_group)
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.5)
                if msg is not None:
                    self._handle(consumer, msg)
        except Exception:
            log.exception("job worker stopped by an error")
        finally:
            consumer.close()

    def _runner(self, job: JobRecord) -> Callable[[JobRecord], bool] | None:
        kind = runner_kind(job)
        if kind == "import":
            return self._importer.run
        if kind == "export":
            return self._exporter.run
        return None

    def _handle(self, consumer: JobConsumer, msg: Message) -> None:
        try:
            job = JobRecord.from_json(msg.value() or b"")
        except (ValueError, KeyError, TypeError):
            log.warning("skipping a malformed job record at offset %s", msg.offset())
            consumer.commit(msg)
            return
        runner = self._runner(job)
        if runner is None:
            consumer.commit(msg)
            return
        record = self._view.get(job.resource_arn)
        if record is not None and record.body.get("status") in _FINISHED:
            log.info("job already finished; skipping the redelivery", extra={"job": job.resource_arn})
            consumer.commit(msg)
            return
        log.info("job started", extra={"job": job.resource_arn, "job_type": job.job_type})
        outcome: list[bool] = []
        thread = threading.Thread(target=lambda: outcome.append(runner(job)), name="ingest-job", daemon=True)
        consumer.pause()
        thread.start()
        while thread.is_alive():
            other = consumer.poll(0.2)
            if other is not None:
                consumer.rewind(other)
        consumer.resume()
        if outcome and outcome[0]:
            consumer.commit(msg)
            self.jobs_run += 1
