"""Kafka topic names, partitioning and record headers of the dataset topics (docs/specs/topics.md).

Every service derives names from here; nothing else spells a topic name.
"""

from __future__ import annotations

from tailor_shared.kafka import TopicSpec

#: Personalize dataset type -> topic suffix, and partitions per topic.
DATASET_KINDS: dict[str, tuple[str, int]] = {
    "Interactions": ("interactions", 4),
    "Items": ("items", 2),
    "Users": ("users", 2),
    "Actions": ("actions", 2),
    "Action_Interactions": ("action-interactions", 4),
}

#: The dataset topics are the dataset of record: nothing expires.
_KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}

# Record headers (all values UTF-8).
H_SCHEMA_FP = "tailor-schema-fp"  # fingerprint of the writer schema (AvroCodec.fingerprint)
H_SCHEMA_ARN = "tailor-schema-arn"
H_DATASET_ARN = "tailor-dataset-arn"
H_SOURCE = "tailor-source"  # "put" (PutEvents/PutItems/... or a direct producer) | "bulk" (import job)
H_IMPORT_JOB = "tailor-import-job"  # bulk rows and markers: the dataset import job ARN
H_MARKER = "tailor-marker"  # control records, e.g. "import-complete"; they carry JSON, not Avro
H_EVENT_ID = "tailor-event-id"
H_SESSION_ID = "tailor-session-id"
H_RECOMMENDATION_ID = "tailor-recommendation-id"

SOURCE_PUT = "put"
SOURCE_BULK = "bulk"
MARKER_IMPORT_COMPLETE = "import-complete"


def dataset_topic(prefix: str, dataset_group_name: str, dataset_type: str) -> str:
    suffix, _ = DATASET_KINDS[dataset_type]
    return f"{prefix}.{dataset_group_name}.{suffix}"


def dataset_topic_spec(prefix: str, dataset_group_name: str, dataset_type: str) -> TopicSpec:
    _, partitions = DATASET_KINDS[dataset_type]
    return TopicSpec(dataset_topic(prefix, dataset_group_name, dataset_type), partitions, dict(_KEEP_FOREVER))


def dataset_topic_pattern(prefix: str, dataset_type: str) -> str:
    """A regex matching this dataset type's topic of every dataset group (for consumers that follow new groups)."""
    suffix, _ = DATASET_KINDS[dataset_type]
    escaped = prefix.replace(".", r"\.")
    return rf"^{escaped}\.[A-Za-z0-9][A-Za-z0-9_-]*\.{suffix}$"


def dead_letter_topic(prefix: str) -> str:
    return f"{prefix}.dead-letters"


def impressions_topic(prefix: str) -> str:
    """Runtime responses (recommendationId + item list) for attribution and implicit impressions."""
    return f"{prefix}.recommendations"
