"""The trainer's job consumer: a thread in the ``<prefix>.trainer-jobs`` group on the jobs topic.

One job at a time per worker; scale out with more trainer processes (the group spreads the partitions).
The offset is committed after a job finishes, so a worker that dies mid-job hands it to another, which
skips it if control already recorded an outcome.
"""

from __future__ import annotations

import json
import logging
import threading

from confluent_kafka import Consumer

from tailor_shared.jobs import JobRecord, jobs_topic
from tailor_trainer.jobs import TrainingJobs

log = logging.getLogger(__name__)

HANDLED = frozenset({"SOLUTION_VERSION", "RECOMMENDER_CREATE", "RECOMMENDER_UPDATE"})


class JobWorker:
    def __init__(self, bootstrap: str, prefix: str, group: str, jobs: TrainingJobs) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "max.poll.interval.ms": 6 * 3600 * 1000,  # a training job may run for hours
            }
        )
        self._consumer.subscribe([jobs_topic(prefix)])
        self._jobs = jobs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trainer-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            raw = msg.value()
            try:
                job = JobRecord.from_json(raw) if raw else None
            except (ValueError, KeyError, json.JSONDecodeError):
                log.warning("ignoring malformed job at offset %s", msg.offset())
                job = None
            if job is not None and job.job_type == "SOLUTION_VERSION":
                self._jobs.run(job)
            elif job is not None and job.job_type in HANDLED:
                self._jobs.run_recommender(job)
            self._consumer.commit(message=msg, asynchronous=False)
        self._consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
