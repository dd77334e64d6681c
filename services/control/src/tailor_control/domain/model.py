"""Value types of the control-plane domain: the call context, the effects a call produces, statuses.

The domain never writes anything: it returns ``Put``/``Delete`` changes for the compacted resources topic
and ``Job``s for the workers, and the servicer makes them durable. Time comes in through ``Context.now``
so every decision is reproducible in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tailor_shared.incarnation import new_incarnation
from tailor_shared.jobs.protocol import JobType
from tailor_shared.resources import ResourceRecord


@dataclass(frozen=True)
class Quotas:
    """Personalize's service quotas (L19656-19835). Defaults are the guide's values; the adjustable ones
    can be raised by the operator, as with a Service Quotas increase (L19819-19832)."""

    active_dataset_groups: int = 5  # per region, adjustable
    active_schemas: int = 500  # per region
    pending_dataset_import_jobs: int = 5  # per region (L18475: not adjustable)
    pending_batch_inference_jobs: int = 5  # per region, adjustable
    pending_batch_segment_jobs: int = 5  # per region
    pending_solution_versions: int = 20  # per region, adjustable
    active_solutions_per_group: int = 10  # adjustable
    active_campaigns_per_group: int = 5  # adjustable
    recommenders_per_group: int = 5
    filters_per_group: int = 10  # adjustable
    distinct_filter_fields_per_group: int = 10
    distinct_fields_per_filter: int = 5
    pending_data_deletion_jobs_per_group: int = 5  # adjustable
    metrics_per_attribution: int = 10
    tags_per_resource: int = 50  # L18029
    # Not a quota: how often User-Personalization(-v2) campaigns are automatically updated ("every two hours",
    # L5373); operators may shorten it (ADR 0022).
    automatic_update_interval_s: int = 7200


@dataclass(frozen=True)
class Context:
    """Who is calling and when; ``now`` is epoch seconds (becomes creationDateTime etc.)."""

    region: str
    account_id: str
    now: float
    quotas: Quotas = field(default_factory=Quotas)
    #: Makes the ``_incarnation`` of a new storage-owning resource (ADR 0012); tests may pass a fixed one.
    new_incarnation: Callable[[], str] = field(default=new_incarnation)


@dataclass(frozen=True)
class Put:
    """Write (create or replace) a resource record, keyed by its ARN."""

    record: ResourceRecord


@dataclass(frozen=True)
class Delete:
    """Remove a resource record (a tombstone on the compacted topic)."""

    arn: str


Change = Put | Delete


@dataclass(frozen=True)
class Job:
    """Work for a worker (trainer / ingest): it reports back through ``apply_job_status``.

    ``job_type`` says what to do and so which worker does it (``tailor_shared.jobs.OWNERS``); ``payload``
    is the resource body at the time, plus anything the worker needs.
    """

    job_type: JobType
    resource_arn: str
    resource_type: str
    payload: Mapping[str, Any]


class Effects(tuple[Change, ...]):
    """What a lifecycle step produces: the record changes (this tuple itself, so it can be written like
    any sequence of changes) and, in ``jobs``, work it starts (automatic training, campaign syncs)."""

    jobs: tuple[Job, ...]

    def __new__(cls, changes: tuple[Change, ...] = (), jobs: tuple[Job, ...] = ()) -> Effects:
        self = super().__new__(cls, changes)
        self.jobs = tuple(jobs)
        return self

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return f"Effects(changes={tuple(self)!r}, jobs={self.jobs!r})"


@dataclass(frozen=True)
class Outcome:
    """The result of one API call: the response (Personalize's JSON shape) and its effects."""

    response: dict[str, Any]
    changes: tuple[Change, ...] = ()
    jobs: tuple[Job, ...] = ()


# --- statuses (api.md §2) ------------------------------------------------------------------------------

CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
ACTIVE = "ACTIVE"
CREATE_FAILED = "CREATE FAILED"
DELETE_PENDING = "DELETE PENDING"
DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"
CREATE_STOPPING = "CREATE STOPPING"
CREATE_STOPPED = "CREATE STOPPED"
UPDATE_PENDING = "UPDATE PENDING"
UPDATE_IN_PROGRESS = "UPDATE IN_PROGRESS"
UPDATE_FAILED = "UPDATE FAILED"  # worker vocabulary only: an update failed, the resource keeps serving
STOP_PENDING = "STOP PENDING"
STOP_IN_PROGRESS = "STOP IN_PROGRESS"
INACTIVE = "INACTIVE"
START_PENDING = "START PENDING"
START_IN_PROGRESS = "START IN_PROGRESS"
# Batch jobs print a different vocabulary (L30160-30163).
BATCH_PENDING = "PENDING"
BATCH_IN_PROGRESS = "IN PROGRESS"
# Data deletion jobs print yet another (L20693).
DDJ_PENDING = "PENDING"
DDJ_IN_PROGRESS = "IN_PROGRESS"
DDJ_COMPLETED = "COMPLETED"
DDJ_FAILED = "FAILED"

#: Statuses in which a resource is "changing from one state to another" and can't be deleted (L15192).
IN_FLIGHT = frozenset(
    {
        CREATE_PENDING,
        CREATE_IN_PROGRESS,
        CREATE_STOPPING,
        UPDATE_PENDING,
        UPDATE_IN_PROGRESS,
        STOP_PENDING,
        STOP_IN_PROGRESS,
        START_PENDING,
        START_IN_PROGRESS,
        DELETE_PENDING,
        DELETE_IN_PROGRESS,
        BATCH_PENDING,
        BATCH_IN_PROGRESS,
        DDJ_IN_PROGRESS,
    }
)
DELETING = frozenset({DELETE_PENDING, DELETE_IN_PROGRESS})
#: "pending or in progress" for the per-region quotas and delete-dependency rules.
PENDING_OR_IN_PROGRESS = frozenset(
    {CREATE_PENDING, CREATE_IN_PROGRESS, BATCH_PENDING, BATCH_IN_PROGRESS, DDJ_IN_PROGRESS}
)

DOMAINS = ("ECOMMERCE", "VIDEO_ON_DEMAND")

# --- resource types (ResourceRecord.resource_type) ------------------------------------------------------

DATASET_GROUP = "datasetGroup"
SCHEMA = "schema"
DATASET = "dataset"
DATASET_IMPORT_JOB = "datasetImportJob"
DATASET_EXPORT_JOB = "datasetExportJob"
DATA_DELETION_JOB = "dataDeletionJob"
EVENT_TRACKER = "eventTracker"
FILTER = "filter"
SOLUTION = "solution"
SOLUTION_VERSION = "solutionVersion"
CAMPAIGN = "campaign"
RECOMMENDER = "recommender"
BATCH_INFERENCE_JOB = "batchInferenceJob"
BATCH_SEGMENT_JOB = "batchSegmentJob"
METRIC_ATTRIBUTION = "metricAttribution"

#: The body key holding each type's ARN.
ARN_FIELD: dict[str, str] = {
    DATASET_GROUP: "datasetGroupArn",
    SCHEMA: "schemaArn",
    DATASET: "datasetArn",
    DATASET_IMPORT_JOB: "datasetImportJobArn",
    DATASET_EXPORT_JOB: "datasetExportJobArn",
    DATA_DELETION_JOB: "dataDeletionJobArn",
    EVENT_TRACKER: "eventTrackerArn",
    FILTER: "filterArn",
    SOLUTION: "solutionArn",
    SOLUTION_VERSION: "solutionVersionArn",
    CAMPAIGN: "campaignArn",
    RECOMMENDER: "recommenderArn",
    BATCH_INFERENCE_JOB: "batchInferenceJobArn",
    BATCH_SEGMENT_JOB: "batchSegmentJobArn",
    METRIC_ATTRIBUTION: "metricAttributionArn",
}

#: Types TagResource accepts (L18000-18015; data deletion jobs too, since their create takes tags).
TAGGABLE = frozenset(
    {
        BATCH_INFERENCE_JOB,
        BATCH_SEGMENT_JOB,
        CAMPAIGN,
        DATASET,
        DATASET_GROUP,
        DATASET_IMPORT_JOB,
        DATASET_EXPORT_JOB,
        EVENT_TRACKER,
        FILTER,
        RECOMMENDER,
        SOLUTION,
        SOLUTION_VERSION,
        DATA_DELETION_JOB,
    }
)
