"""The jobs platform: control → workers on ``<prefix>.jobs``, workers → control on ``<prefix>.job-status``.

One package owns the protocol (ADR 0011, docs/specs/topics.md): the records and the job types with their
owners (:mod:`.protocol`, pure), the worker loop every worker service runs (:mod:`.worker`) and the one
status reporter (:mod:`.status`).
"""

from tailor_shared.jobs.protocol import (
    FOLLOWS_RESOURCES,
    OWNERS,
    JobInterrupted,
    JobRecord,
    JobType,
    Owner,
    Route,
    StatusUpdate,
    job_status_topic,
    job_topic_specs,
    jobs_group,
    jobs_topic,
    owned_by,
    route,
)
from tailor_shared.jobs.status import StatusReporter
from tailor_shared.jobs.worker import Handler, JobWorker

__all__ = [
    "FOLLOWS_RESOURCES",
    "OWNERS",
    "Handler",
    "JobInterrupted",
    "JobRecord",
    "JobType",
    "JobWorker",
    "Owner",
    "Route",
    "StatusReporter",
    "StatusUpdate",
    "job_status_topic",
    "job_topic_specs",
    "jobs_group",
    "jobs_topic",
    "owned_by",
    "route",
]
