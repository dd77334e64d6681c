"""Where a call's rows go: a dataset record resolved to its schema plan, Avro codec and topic."""

from __future__ import annotations

from dataclasses import dataclass

from tailor_ingest.domain.fields import DatasetPlan
from tailor_shared import incarnation, schemas, topics
from tailor_shared.avro import AvroCodec
from tailor_shared.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from tailor_shared.resources import ResourceReader, ResourceRecord


@dataclass(frozen=True)
class Target:
    """A dataset ready to receive rows: its plan, Avro codec and topic."""

    dataset_arn: str
    dataset_type: str
    dataset_group_arn: str
    dataset_group_name: str
    schema_arn: str
    plan: DatasetPlan
    codec: AvroCodec
    topic: str


def _require_active(record: ResourceRecord, what: str) -> None:
    """Put* calls need an ACTIVE resource; others are ResourceInUseException (409, api.md §5)."""
    status = record.body.get("status")
    if status is not None and status != "ACTIVE":
        raise ResourceInUseException(f"{what} {record.arn} is {status}; it must be ACTIVE to receive records.")


def _group_name(group: ResourceRecord) -> str:
    name = group.body.get("name")
    return str(name) if name else group.arn.rsplit("/", 1)[-1]


def dataset_target(view: ResourceReader, dataset: ResourceRecord, prefix: str) -> Target:
    """Resolve a dataset record to its schema, plan and topic."""
    dataset_type = schemas.normalize_dataset_type(str(dataset.body.get("datasetType")))
    group_arn = str(dataset.body.get("datasetGroupArn") or dataset.parent_arn or "")
    group = view.get(group_arn)
    if group is None:
        raise ResourceNotFoundException(f"Could not find the dataset group {group_arn} of dataset {dataset.arn}.")
    schema_arn = str(dataset.body.get("schemaArn"))
    schema_record = view.get(schema_arn)
    if schema_record is None:
        raise ResourceNotFoundException(f"Could not find the schema {schema_arn} of dataset {dataset.arn}.")
    text = str(schema_record.body["schema"])
    parsed = schemas.check_schema_for_dataset(
        schemas.parse_schema(text, schema_record.body.get("domain")), dataset_type, group.body.get("domain")
    )
    name = _group_name(group)
    return Target(
        dataset_arn=dataset.arn,
        dataset_type=dataset_type,
        dataset_group_arn=group.arn,
        dataset_group_name=name,
        schema_arn=schema_arn,
        plan=DatasetPlan.build(parsed),
        codec=AvroCodec(text),
        topic=topics.dataset_topic_for(prefix, group, dataset),  # bound to both incarnations (ADR 0012)
    )


def resolve_dataset(view: ResourceReader, dataset_arn: str, dataset_type: str, prefix: str) -> Target:
    """PutItems / PutUsers / PutActions: the dataset ARN must name an ACTIVE dataset of that type."""
    record = view.get(dataset_arn)
    if record is None or record.resource_type != "dataset":
        raise ResourceNotFoundException(f"Could not find the specified resource: dataset {dataset_arn}.")
    actual = schemas.normalize_dataset_type(str(record.body.get("datasetType")))
    if actual != dataset_type:
        raise InvalidInputException(
            f"Dataset {dataset_arn} is an {actual} dataset; this operation writes to an {dataset_type} dataset."
        )
    _require_active(record, "Dataset")
    return dataset_target(view, record, prefix)


def resolve_event_tracker(view: ResourceReader, tracking_id: str, prefix: str) -> Target:
    """PutEvents: the tracking ID names an event tracker, whose dataset group's Item interactions dataset
    receives the events (L13697-13830)."""
    tracker = next((r for r in view.list("eventTracker") if r.body.get("trackingId") == tracking_id), None)
    if tracker is None:
        raise ResourceNotFoundException(f"Could not find an event tracker with trackingId {tracking_id}.")
    _require_active(tracker, "Event tracker")
    group_arn = str(tracker.body.get("datasetGroupArn") or tracker.parent_arn or "")
    missing = f"Dataset group {group_arn} has no Item interactions dataset."
    return _active_dataset(view, "datasetGroupArn", group_arn, schemas.INTERACTIONS, missing, prefix)


def resolve_action_tracker(view: ResourceReader, tracking_id: str, prefix: str) -> Target:
    """PutActionInteractions: the tracking ID is the Action interactions dataset's own (L14244)."""
    missing = f"Could not find an Action interactions dataset with trackingId {tracking_id}."
    return _active_dataset(view, "trackingId", tracking_id, schemas.ACTION_INTERACTIONS, missing, prefix)


def resolve_inbound(
    view: ResourceReader, group_name: str, group_incarnation: str | None, dataset_type: str, prefix: str
) -> Target:
    """An inbound topic's record (ADR 0024): the live dataset group incarnation the topic names, and its ACTIVE
    dataset of ``dataset_type``."""
    group = next(
        (
            g
            for g in view.list("datasetGroup")
            if _group_name(g) == group_name and incarnation.incarnation_of(g) == group_incarnation
        ),
        None,
    )
    if group is None:
        raise ResourceNotFoundException(
            f"Could not find the dataset group {group_name} of this inbound topic: it was deleted."
        )
    missing = f"Dataset group {group.arn} has no {dataset_type} dataset."
    return _active_dataset(view, "datasetGroupArn", group.arn, dataset_type, missing, prefix)


def _active_dataset(
    view: ResourceReader, member: str, value: str, dataset_type: str, missing: str, prefix: str
) -> Target:
    """The target of the ``dataset_type`` dataset whose ``member`` is ``value``; it must be ACTIVE."""
    dataset = next(
        (d for d in view.list("dataset") if d.body.get(member) == value and d.body.get("datasetType") == dataset_type),
        None,
    )
    if dataset is None:
        raise ResourceNotFoundException(missing)
    _require_active(dataset, "Dataset")
    return dataset_target(view, dataset, prefix)
