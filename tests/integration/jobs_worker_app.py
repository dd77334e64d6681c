"""A jobs-platform worker process whose handler never finishes: ``test_jobs_worker`` kills it mid-job.

Env: ``JOBS_KAFKA``, ``JOBS_PREFIX``, ``JOBS_MARKER`` (a file the handler writes the job's ARN to when it
starts). Runs until killed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tailor_shared.jobs import JobRecord, JobType, JobWorker, Owner

#: Short group timeouts so that the test does not wait long for the dead member to leave the group.
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 7000}


def main() -> None:
    marker = Path(os.environ["JOBS_MARKER"])
    forever = threading.Event()

    def handler(job: JobRecord) -> None:
        marker.write_text(job.resource_arn)
        forever.wait()

    worker = JobWorker(
        os.environ["JOBS_KAFKA"],
        os.environ["JOBS_PREFIX"],
        Owner.INGEST,
        {JobType.DATASET_IMPORT: handler},
        consumer_config=FAST_GROUP,
    )
    worker.start()
    forever.wait()


if __name__ == "__main__":
    main()
