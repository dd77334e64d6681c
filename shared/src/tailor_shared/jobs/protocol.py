"""The jobs protocol between control (dispatcher, single writer of resources) and the workers — its pure part.

``<prefix>.jobs``: one record per piece of work (key = resource ARN, JSON value), consumed by one consumer
group per owner (``<prefix>.<owner>-jobs``). ``<prefix>.job-status``: workers' progress reports (key =
resource ARN), consumed by control, which alone turns them into resource records. The job types, who runs
each and the record formats are specified in docs/specs/topics.md; ADR 0011 explains the worker loop.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tailor_shared.kafka import TopicSpec


def jobs_topic(prefix: str) -> str:
    return f"{prefix}.jobs"


def job_status_topic(prefix: str) -> str:
    return f"{prefix}.job-status"


def job_topic_specs(prefix: str) -> list[TopicSpec]:
    return [TopicSpec(jobs_topic(prefix), partitions=4), TopicSpec(job_status_topic(prefix), partitions=1)]


class JobType(enum.StrEnum):
    """Every kind of work control puts on ``<prefix>.jobs``; the values are the wire strings (``jobType``)."""

    DATASET_IMPORT = "DATASET_IMPORT"
    DATASET_EXPORT = "DATASET_EXPORT"
    DATA_DELETION = "DATA_DELETION"
    SOLUTION_VERSION = "SOLUTION_VERSION"
    SOLUTION_VERSION_STOP = "SOLUTION_VERSION_STOP"
    CAMPAIGN_DEPLOY = "CAMPAIGN_DEPLOY"
    CAMPAIGN_UPDATE = "CAMPAIGN_UPDATE"
    RECOMMENDER_CREATE = "RECOMMENDER_CREATE"
    RECOMMENDER_UPDATE = "RECOMMENDER_UPDATE"
    RECOMMENDER_RETRAIN = "RECOMMENDER_RETRAIN"
    CAMPAIGN_AUTO_UPDATE = "CAMPAIGN_AUTO_UPDATE"
    RECOMMENDER_START = "RECOMMENDER_START"
    RECOMMENDER_STOP = "RECOMMENDER_STOP"
    BATCH_INFERENCE = "BATCH_INFERENCE"
    BATCH_SEGMENT = "BATCH_SEGMENT"


class Owner(enum.StrEnum):
    """Who acts on a job type. A worker owner has one consumer group, ``<prefix>.<owner>-jobs``;
    ``FOLLOWS_RESOURCES`` types have no consumer: runtimes and the trainer follow the resource records."""

    INGEST = "ingest"
    TRAINER = "trainer"
    BATCH = "batch"  # the batch service: batch inference and segment jobs (ADR 0016)
    DATA_DELETION = "data-deletion"  # the data deletion worker, hosted by the stream service (ADR 0015)
    FOLLOWS_RESOURCES = "follows-resources"


FOLLOWS_RESOURCES: Final = Owner.FOLLOWS_RESOURCES

#: The owner of every job type (a unit test checks that every type control emits is here).
OWNERS: Final[Mapping[JobType, Owner]] = {
    JobType.DATASET_IMPORT: Owner.INGEST,
    JobType.DATASET_EXPORT: Owner.INGEST,
    JobType.DATA_DELETION: Owner.DATA_DELETION,
    JobType.SOLUTION_VERSION: Owner.TRAINER,
    JobType.SOLUTION_VERSION_STOP: FOLLOWS_RESOURCES,  # the training loop watches for CREATE STOPPING
    JobType.CAMPAIGN_DEPLOY: FOLLOWS_RESOURCES,  # runtimes load what the campaign records say
    JobType.CAMPAIGN_UPDATE: FOLLOWS_RESOURCES,
    JobType.RECOMMENDER_CREATE: Owner.TRAINER,
    JobType.RECOMMENDER_UPDATE: Owner.TRAINER,
    JobType.RECOMMENDER_RETRAIN: Owner.TRAINER,  # automatic retraining every 7 days (L8743), control's schedule
    JobType.CAMPAIGN_AUTO_UPDATE: Owner.TRAINER,  # UP(-v2) campaigns' automatic updates, every 2 hours (L5373)
    JobType.RECOMMENDER_START: FOLLOWS_RESOURCES,
    JobType.RECOMMENDER_STOP: FOLLOWS_RESOURCES,
    JobType.BATCH_INFERENCE: Owner.BATCH,
    JobType.BATCH_SEGMENT: Owner.BATCH,
}


def owned_by(owner: Owner) -> frozenset[JobType]:
    return frozenset(t for t, o in OWNERS.items() if o == owner)


def jobs_group(prefix: str, owner: Owner) -> str:
    """The default consumer group of ``owner``'s workers on ``<prefix>.jobs``."""
    if owner == FOLLOWS_RESOURCES:
        raise ValueError("job types that follow resource records have no worker group")
    return f"{prefix}.{owner.value}-jobs"


@dataclass(frozen=True)
class JobRecord:
    job_type: JobType
    resource_arn: str
    resource_type: str
    payload: Mapping[str, Any]
    dispatched_at: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "job_type", JobType(self.job_type))  # ValueError for an unknown type

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "jobType": self.job_type.value,
                "resourceArn": self.resource_arn,
                "resourceType": self.resource_type,
                "payload": dict(self.payload),
                "dispatchedAt": self.dispatched_at,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> JobRecord:
        """Raises ``ValueError`` for anything that is not a job record of a known type."""
        try:
            d = json.loads(raw)
            return cls(
                JobType(d["jobType"]),
                str(d["resourceArn"]),
                str(d["resourceType"]),
                d.get("payload") or {},
                float(d["dispatchedAt"]),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"not a job record: {err!r}") from None


@dataclass(frozen=True)
class StatusUpdate:
    """A worker's report: a new status, a failure reason, and body fields to merge (e.g. metrics)."""

    resource_arn: str
    status: str
    failure_reason: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        d: dict[str, Any] = {"resourceArn": self.resource_arn, "status": self.status, "fields": dict(self.fields)}
        if self.failure_reason is not None:
            d["failureReason"] = self.failure_reason
        return json.dumps(d, separators=(",", ":")).encode()

    @staticmethod
    def parse(raw: bytes) -> dict[str, Any]:
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("status update is not a JSON object")
        return value


#: The status a trainer reports for an automatic-training ``SOLUTION_VERSION`` job (trainingMode AUTOTRAIN) it
#: answers without training: no interaction data arrived since the solution's last training ("Automatic
#: training occurs only if you imported bulk or real-time interaction data since the last training", L10003).
#: Control removes the version, as if it was never created, and keeps the schedule (ADR 0002 §20).
SKIPPED_NO_NEW_DATA: Final = "SKIPPED"


class JobInterrupted(Exception):
    """Raised by a handler that gave up before finishing (its worker is stopping): the job is not committed,
    so it is delivered again — to this worker after a restart or to another member of the group."""


class Route(enum.Enum):
    """What a worker does with a record it polled (see :func:`route`)."""

    RUN = "run"
    NOT_OURS = "not-ours"  # another owner's job type: commit and move on
    FINISHED = "finished"  # the resource already has its outcome (a redelivery): commit, don't run again
    MALFORMED = "malformed"  # not a job record, or a type this version does not know: commit and log


def route(
    raw: bytes | None, handled: frozenset[JobType], finished: Callable[[JobRecord], bool]
) -> tuple[Route, JobRecord | None]:
    """Decide what to do with one record of ``<prefix>.jobs``; ``finished(job) -> bool`` is only asked for
    jobs this worker handles."""
    try:
        job = JobRecord.from_json(raw or b"")
    except ValueError:
        return Route.MALFORMED, None
    if job.job_type not in handled:
        return Route.NOT_OURS, job
    if finished(job):
        return Route.FINISHED, job
    return Route.RUN, job
