"""The import/export job worker: ingest's member of the jobs platform (``tailor_shared.jobs.JobWorker``).

It runs ``DATASET_IMPORT`` and ``DATASET_EXPORT`` jobs in the ``<prefix>.ingest-jobs`` group; the platform
runs one job at a time off the event loop, commits its offset only after it finished (a job interrupted by
a crash or a shutdown is delivered again, and the import-start markers make the retry replace the
interrupted attempt) and skips redeliveries of jobs whose resource already has its outcome.
"""

from __future__ import annotations

import threading

from tailor_ingest.adapters import TopicGuard
from tailor_ingest.config import IngestSettings
from tailor_ingest.exporter import Exporter
from tailor_ingest.importer import Importer
from tailor_shared.jobs import JobRecord, JobType, JobWorker, Owner, StatusReporter, job_topic_specs
from tailor_shared.kafka import ensure_topics
from tailor_shared.resources import ResourceReader

#: An import or export job in one of these statuses is done; its redelivery is skipped.
FINISHED = frozenset({"ACTIVE", "CREATE FAILED"})


def start_worker(
    settings: IngestSettings, view: ResourceReader, topics: TopicGuard, reporter: StatusReporter
) -> JobWorker:
    """Build and start the worker (blocking calls: run it off the event loop)."""
    ensure_topics(settings.common.kafka_bootstrap, job_topic_specs(settings.prefix))
    stop = threading.Event()
    importer = Importer(settings, view, topics, reporter.report, stop.is_set)
    exporter = Exporter(settings, view, reporter.report)

    def finished(job: JobRecord) -> bool:
        record = view.get(job.resource_arn)
        return record is not None and record.body.get("status") in FINISHED

    worker = JobWorker(
        settings.common.kafka_bootstrap,
        settings.prefix,
        Owner.INGEST,
        {JobType.DATASET_IMPORT: importer.run, JobType.DATASET_EXPORT: exporter.run},
        finished=finished,
        group=settings.jobs_group,
        stop_event=stop,
    )
    worker.start()
    return worker
