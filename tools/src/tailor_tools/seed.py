"""Resource records for a dataset group, written straight to the resources topic.

Ingest depends on control only through the compacted resources topic, so tests, benchmarks and a local
ingest without control can describe a dataset group by producing the ``ResourceRecord``s control would
write (ACTIVE, keyed by ARN). Bodies follow control's Describe* shapes (``tailor_control.domain``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from tailor_shared import arns, incarnation
from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.jobs import JobRecord, StatusUpdate, job_status_topic, job_topic_specs, jobs_topic
from tailor_shared.kafka import ensure_topics, kafka_config, producer_config
from tailor_shared.resource_view import resources_topic, resources_topic_spec
from tailor_shared.resources import ResourceRecord
from tailor_shared.schemas import avro_record
from tailor_shared.topics import dataset_topic_for

#: Small schemas per dataset type (the guide's examples, L4798-L5120).
SCHEMAS: dict[str, dict[str, Any]] = {
    "Interactions": avro_record(
        "Interactions",
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        {"name": "EVENT_VALUE", "type": ["null", "float"], "default": None},
        {"name": "IMPRESSION", "type": ["null", "string"], "default": None},
        {"name": "RECOMMENDATION_ID", "type": ["null", "string"], "default": None},
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"], "default": None},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True, "default": None},
        {"name": "NUM_RATINGS", "type": ["null", "int"], "default": None},
    ),
    "Items": avro_record(
        "Items",
        "ITEM_ID",
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": "PRICE", "type": ["null", "float"]},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
    ),
    "Users": avro_record(
        "Users",
        "USER_ID",
        {"name": "AGE", "type": ["null", "int"]},
        {"name": "MEMBERSHIP_TYPE", "type": ["null", "string"], "categorical": True},
    ),
    "Actions": avro_record(
        "Actions",
        "ACTION_ID",
        {"name": "VALUE", "type": ["null", "long"]},
        {"name": "MEMBERSHIP_LEVEL", "type": ["null", "string"], "categorical": True},
        {"name": "REPEAT_FREQUENCY", "type": ["long", "null"]},
    ),
    "Action_Interactions": avro_record(
        "Action_Interactions",
        "USER_ID",
        "ACTION_ID",
        "EVENT_TYPE",
        "TIMESTAMP",
        {"name": "IMPRESSION", "type": ["null", "string"], "default": None},
    ),
}


@dataclass(frozen=True)
class SeededGroup:
    """ARNs and ids of a seeded dataset group."""

    name: str
    group_arn: str
    dataset_arns: dict[str, str]
    schema_arns: dict[str, str]
    tracking_id: str | None
    action_tracking_id: str | None
    records: tuple[ResourceRecord, ...] = field(repr=False, default=())

    def dataset_arn(self, dataset_type: str) -> str:
        return self.dataset_arns[dataset_type]

    def record(self, arn: str) -> ResourceRecord:
        return next(r for r in self.records if r.arn == arn)

    def topic(self, prefix: str, dataset_type: str) -> str:
        """The dataset's topic, derived from the group's and the dataset's records (ADR 0012)."""
        return dataset_topic_for(prefix, self.record(self.group_arn), self.record(self.dataset_arns[dataset_type]))


def group_records(
    name: str,
    schemas: Mapping[str, Mapping[str, Any] | str],
    *,
    region: str = "us-east-1",
    account: str = "000000000000",
    tracker: bool = True,
    domain: str | None = None,
    status: str = "ACTIVE",
) -> SeededGroup:
    """The records control would hold for a dataset group with these datasets (dataset type -> schema)."""
    now = time.time()
    group_arn = arns.dataset_group_arn(region, account, name)
    records = [
        ResourceRecord(
            group_arn,
            "datasetGroup",
            _body(group_arn, "datasetGroupArn", now, status, name=name, domain=domain, **_incarnated()),
        ),
    ]
    datasets: dict[str, str] = {}
    schema_arns: dict[str, str] = {}
    action_tracking: str | None = None
    for dataset_type, schema in schemas.items():
        text = schema if isinstance(schema, str) else json.dumps(schema)
        schema_name = f"{name}-{dataset_type.lower().replace('_', '-')}"
        schema_arn = arns.schema_arn(region, account, schema_name)
        records.append(
            ResourceRecord(
                schema_arn,
                "schema",
                _body(schema_arn, "schemaArn", now, None, name=schema_name, schema=text, domain=domain),
            )
        )
        dataset_arn = arns.dataset_arn(region, account, name, dataset_type)
        extra: dict[str, Any] = {}
        if dataset_type == "Action_Interactions":
            action_tracking = arns.uuid_like("trackingId", dataset_arn, now)
            extra["trackingId"] = action_tracking
        records.append(
            ResourceRecord(
                dataset_arn,
                "dataset",
                _body(
                    dataset_arn,
                    "datasetArn",
                    now,
                    status,
                    datasetGroupArn=group_arn,
                    datasetType=dataset_type,
                    name=f"{name}-{dataset_type.lower()}",
                    schemaArn=schema_arn,
                    **extra,
                    **_incarnated(),
                ),
                parent_arn=group_arn,
            )
        )
        datasets[dataset_type] = dataset_arn
        schema_arns[dataset_type] = schema_arn
    tracking_id: str | None = None
    if tracker and "Interactions" in schemas:
        tracker_arn = arns.event_tracker_arn(region, account, f"{name}-tracker")
        tracking_id = arns.uuid_like("trackingId", tracker_arn, now)
        records.append(
            ResourceRecord(
                tracker_arn,
                "eventTracker",
                _body(
                    tracker_arn,
                    "eventTrackerArn",
                    now,
                    status,
                    accountId=account,
                    datasetGroupArn=group_arn,
                    name=f"{name}-tracker",
                    trackingId=tracking_id,
                ),
                parent_arn=group_arn,
            )
        )
    return SeededGroup(name, group_arn, datasets, schema_arns, tracking_id, action_tracking, tuple(records))


def _incarnated() -> dict[str, str]:
    """A new storage-owning resource's ``_incarnation``, as control gives it (ADR 0012)."""
    return {incarnation.FIELD: incarnation.new_incarnation()}


def _body(arn: str, arn_field: str, now: float, status: str | None, **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {arn_field: arn, **{k: v for k, v in members.items() if v is not None}}
    if status is not None:
        body["status"] = status
    body["creationDateTime"] = now
    body["lastUpdatedDateTime"] = now
    return body


def publish(bootstrap: str, prefix: str, records: tuple[ResourceRecord, ...] | list[ResourceRecord]) -> None:
    """Write records to ``<prefix>.control.resources`` and wait for the acknowledgements."""
    ensure_topics(bootstrap, [resources_topic_spec(prefix)])
    producer = Producer(producer_config(bootstrap))
    failures: list[str] = []
    for record in records:
        producer.produce(
            resources_topic(prefix),
            record.to_json(),
            record.arn.encode(),
            on_delivery=lambda err, _msg: failures.append(err.str()) if err is not None else None,
        )
    if producer.flush(30) or failures:
        raise ServiceUnavailableException(f"cannot write resource records: {failures or 'timeout'}")


def seed_group(
    bootstrap: str, prefix: str, name: str, schemas: Mapping[str, Mapping[str, Any] | str], **options: Any
) -> SeededGroup:
    group = group_records(name, schemas, **options)
    publish(bootstrap, prefix, group.records)
    return group


def submit_job(bootstrap: str, prefix: str, job: JobRecord) -> None:
    """Put a job on ``<prefix>.jobs`` as control's dispatcher would (keyed by the resource ARN)."""
    ensure_topics(bootstrap, job_topic_specs(prefix))
    producer = Producer(producer_config(bootstrap))
    failures: list[str] = []
    producer.produce(
        jobs_topic(prefix),
        job.to_json(),
        job.resource_arn.encode(),
        on_delivery=lambda err, _msg: failures.append(err.str()) if err is not None else None,
    )
    if producer.flush(30) or failures:
        raise ServiceUnavailableException(f"cannot write the job: {failures or 'timeout'}")


def wait_for_status(
    bootstrap: str,
    prefix: str,
    resource_arn: str,
    final: tuple[str, ...] = ("ACTIVE", "CREATE FAILED"),
    timeout_s: float = 120.0,
) -> list[dict[str, Any]]:
    """Every status report for ``resource_arn`` on ``<prefix>.job-status`` up to the first final one."""
    ensure_topics(bootstrap, job_topic_specs(prefix))
    consumer = Consumer(
        {**kafka_config(bootstrap), "group.id": f"status-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(job_status_topic(prefix), 0, OFFSET_BEGINNING)])
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None or msg.key() != resource_arn.encode():
                continue
            update = StatusUpdate.parse(msg.value() or b"{}")
            seen.append(update)
            if update.get("status") in final:
                return seen
    finally:
        consumer.close()
    raise TimeoutError(f"no final status for {resource_arn} in {timeout_s}s; seen {seen}")
