"""Control-plane resource records: the value format of the compacted ``tailor.control.resources`` topic.

A record is keyed by ARN. ``body`` is the resource exactly as Personalize's Describe* call returns it
(camelCase JSON, e.g. ``{"datasetGroupArn": ..., "status": "ACTIVE", "creationDateTime": 1.7e9}``), so the
gRPC layer can convert it to and from protobuf with the standard JSON mapping. A tombstone (null value)
deletes the resource. Every service keeps a local view by consuming the topic (``ResourceView``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ResourceRecord:
    """One control-plane resource as stored on Kafka."""

    arn: str
    resource_type: str  # e.g. "datasetGroup", "schema", "dataset", "solutionVersion" (Personalize's noun)
    body: Mapping[str, Any]  # the Describe* shape, camelCase
    parent_arn: str | None = None  # the ARN List* calls filter by (dataset group, solution, ...)
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "arn": self.arn,
                "resourceType": self.resource_type,
                "parentArn": self.parent_arn,
                "tags": dict(self.tags),
                "body": dict(self.body),
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> ResourceRecord:
        data = json.loads(raw)
        return cls(
            arn=data["arn"],
            resource_type=data["resourceType"],
            body=data["body"],
            parent_arn=data.get("parentArn"),
            tags=data.get("tags") or {},
        )


class ResourceReader(Protocol):
    """Read side of a resource view; domain code depends only on this (no I/O)."""

    def get(self, arn: str) -> ResourceRecord | None: ...

    def list(self, resource_type: str, parent_arn: str | None = None) -> list[ResourceRecord]: ...


class InMemoryResources:
    """A plain dict-backed ``ResourceReader``: the fold that ``ResourceView`` applies to the topic, and
    the fake that unit tests of pure logic use."""

    def __init__(self, records: Iterable[ResourceRecord] = ()) -> None:
        self._by_arn: dict[str, ResourceRecord] = {}
        for record in records:
            self.put(record)

    def put(self, record: ResourceRecord) -> None:
        self._by_arn[record.arn] = record

    def delete(self, arn: str) -> None:
        self._by_arn.pop(arn, None)

    def get(self, arn: str) -> ResourceRecord | None:
        return self._by_arn.get(arn)

    def list(self, resource_type: str, parent_arn: str | None = None) -> list[ResourceRecord]:
        return [
            r
            for r in self._by_arn.values()
            if r.resource_type == resource_type and (parent_arn is None or r.parent_arn == parent_arn)
        ]

    def __len__(self) -> int:
        return len(self._by_arn)
