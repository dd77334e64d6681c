"""The jobs protocol between control (dispatcher, single writer of resources) and workers.

``<prefix>.jobs``: one record per piece of work (key = resource ARN, JSON value), consumed by worker
groups (trainer, ingest's import worker). ``<prefix>.job-status``: workers' progress reports (key =
resource ARN), consumed by control, which alone turns them into resource records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tailor_shared.kafka import TopicSpec


def jobs_topic(prefix: str) -> str:
    return f"{prefix}.jobs"


def job_status_topic(prefix: str) -> str:
    return f"{prefix}.job-status"


def job_topic_specs(prefix: str) -> list[TopicSpec]:
    return [TopicSpec(jobs_topic(prefix), partitions=4), TopicSpec(job_status_topic(prefix), partitions=1)]


@dataclass(frozen=True)
class JobRecord:
    job_type: str  # e.g. "DATASET_IMPORT", "SOLUTION_VERSION", "CAMPAIGN_DEPLOY"
    resource_arn: str
    resource_type: str
    payload: Mapping[str, Any]
    dispatched_at: float

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "jobType": self.job_type,
                "resourceArn": self.resource_arn,
                "resourceType": self.resource_type,
                "payload": dict(self.payload),
                "dispatchedAt": self.dispatched_at,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> JobRecord:
        d = json.loads(raw)
        return cls(d["jobType"], d["resourceArn"], d["resourceType"], d.get("payload") or {}, d["dispatchedAt"])


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
