"""Kafka topic names, partitioning and record headers of the dataset topics (docs/specs/topics.md).

Every service derives names from here; nothing else spells a topic name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tailor_shared import arns, incarnation, redis_keys
from tailor_shared.kafka import TopicSpec
from tailor_shared.schemas import normalize_dataset_type

#: Personalize dataset type -> topic suffix, and partitions per topic.
DATASET_KINDS: dict[str, tuple[str, int]] = {
    "Interactions": ("interactions", 4),
    "Items": ("items", 2),
    "Users": ("users", 2),
    "Actions": ("actions", 2),
    "Action_Interactions": ("action-interactions", 4),
}

#: The dataset topics are the dataset of record: nothing expires.
#: Retention of dataset topics: -1 keeps every record, as Personalize keeps a dataset until it is deleted.
#: ``TAILOR_DATASET_RETENTION_MS`` (CommonSettings.dataset_retention_ms) may shorten it for new topics.
KEEP_FOREVER_MS = -1

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


@dataclass(frozen=True)
class DatasetTopicName:
    """The parts of a dataset topic's name (``parse_dataset_topic``)."""

    dataset_group: str  # the dataset group's name
    dataset_type: str  # Personalize's dataset type, e.g. "Interactions"
    suffix: str  # the topic suffix, e.g. "interactions"
    group_incarnation: str | None = None  # None: a legacy (name-only) dataset group
    dataset_incarnation: str | None = None  # None: a legacy dataset

    @property
    def group_tag(self) -> str:
        """The dataset group's storage name (its Redis hash tag, ``redis_keys.group_tag``)."""
        return redis_keys.group_tag(self.dataset_group, self.group_incarnation)


def dataset_topic(
    prefix: str,
    dataset_group_name: str,
    dataset_type: str,
    *,
    group_incarnation: str | None = None,
    dataset_incarnation: str | None = None,
) -> str:
    """The topic of one incarnation of a dataset (ADR 0012):

    * ``<prefix>.<group>.<groupInc>.<datasetInc>.<suffix>`` (group and dataset created with incarnations);
    * ``<prefix>.<group>.<datasetInc>.<suffix>`` (a dataset created in a legacy group);
    * ``<prefix>.<group>.<suffix>`` (legacy: both records predate incarnations).

    Prefer ``dataset_topic_for``, which takes them from the records."""
    suffix, _ = DATASET_KINDS[dataset_type]
    for token in (group_incarnation, dataset_incarnation):
        if token is not None and not incarnation.is_token(token):
            raise ValueError(f"bad incarnation {token!r}")
    if group_incarnation is not None and dataset_incarnation is None:
        raise ValueError("a dataset of a dataset group with an incarnation has one too")
    parts = [prefix, dataset_group_name, group_incarnation, dataset_incarnation, suffix]
    return ".".join(p for p in parts if p is not None)


def dataset_topic_for(prefix: str, group: Mapping[str, Any] | Any, dataset: Mapping[str, Any] | Any) -> str:
    """The topic of a dataset, from its dataset group's and its own record (``ResourceRecord`` or body)."""
    group_body = group if isinstance(group, Mapping) else group.body
    dataset_body = dataset if isinstance(dataset, Mapping) else dataset.body
    return dataset_topic(
        prefix,
        str(group_body["name"]),
        normalize_dataset_type(str(dataset_body["datasetType"])),
        group_incarnation=incarnation.incarnation_of(group_body),
        dataset_incarnation=incarnation.incarnation_of(dataset_body),
    )


def topic_spec(topic: str, dataset_type: str, retention_ms: int = KEEP_FOREVER_MS) -> TopicSpec:
    """How a dataset topic is created: partitions by type; kept forever unless a retention is configured."""
    _, partitions = DATASET_KINDS[dataset_type]
    if retention_ms != KEEP_FOREVER_MS and retention_ms <= 0:
        raise ValueError(f"dataset retention must be -1 (forever) or a positive number of ms, not {retention_ms}")
    config = {"retention.ms": str(retention_ms), "retention.bytes": "-1", "cleanup.policy": "delete"}
    return TopicSpec(topic, partitions, config)


def dataset_topic_spec(
    prefix: str,
    dataset_group_name: str,
    dataset_type: str,
    *,
    group_incarnation: str | None = None,
    dataset_incarnation: str | None = None,
) -> TopicSpec:
    name = dataset_topic(
        prefix,
        dataset_group_name,
        dataset_type,
        group_incarnation=group_incarnation,
        dataset_incarnation=dataset_incarnation,
    )
    return topic_spec(name, dataset_type)


_NAME = "[A-Za-z0-9][A-Za-z0-9_-]*"
_INC = f"[0-9a-f]{{{incarnation.LENGTH}}}"


def dataset_topic_pattern(prefix: str, dataset_type: str) -> str:
    """A regex matching this dataset type's topic of every dataset (group) incarnation, legacy names included
    (for consumers that follow new groups)."""
    suffix, _ = DATASET_KINDS[dataset_type]
    escaped = prefix.replace(".", r"\.")
    return rf"^{escaped}\.{_NAME}(?:\.{_INC}){{0,2}}\.{suffix}$"


_SUFFIX_TO_TYPE = {suffix: dataset_type for dataset_type, (suffix, _) in DATASET_KINDS.items()}
_NAME_RE = re.compile(f"^{_NAME}$")


def parse_dataset_topic(prefix: str, topic: str) -> DatasetTopicName | None:
    """A dataset topic's name -> its parts (the inverse of ``dataset_topic``); None for any other topic."""
    head = prefix + "."
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split(".")
    if len(parts) < 2 or len(parts) > 4:
        return None
    name, *tokens, suffix = parts
    dataset_type = _SUFFIX_TO_TYPE.get(suffix)
    if dataset_type is None or not _NAME_RE.match(name) or not all(incarnation.is_token(t) for t in tokens):
        return None
    group_inc = tokens[0] if len(tokens) == 2 else None
    dataset_inc = tokens[-1] if tokens else None
    return DatasetTopicName(name, dataset_type, suffix, group_inc, dataset_inc)


#: Inbound topics (ADR 0024): kind -> (dataset type it feeds, partitions). The value of a record is
#: Personalize's own JSON for one record of that kind (docs/specs/topics.md, "Inbound topics").
INBOUND_KINDS: dict[str, tuple[str, int]] = {
    "events": ("Interactions", 4),
    "items": ("Items", 2),
    "users": ("Users", 2),
    "actions": ("Actions", 2),
    "action-interactions": ("Action_Interactions", 4),
}
#: Inbound topics are a transit buffer (the dataset topic is the record): 7 days, like the dead letters.
INBOUND_RETENTION_MS = 7 * 24 * 3600 * 1000
_INBOUND = "inbound"


@dataclass(frozen=True)
class InboundTopicName:
    """The parts of an inbound topic's name (``parse_inbound_topic``)."""

    dataset_group: str
    group_incarnation: str | None  # None: a legacy (name-only) dataset group
    kind: str  # a key of INBOUND_KINDS

    @property
    def dataset_type(self) -> str:
        return INBOUND_KINDS[self.kind][0]


def inbound_topic(prefix: str, group: Mapping[str, Any] | Any, kind: str) -> str:
    """``<prefix>.<group>.<groupInc>.inbound.<kind>``: bound to the group's incarnation (ADR 0012), never
    parsed as a dataset topic ("inbound" is no incarnation token)."""
    if kind not in INBOUND_KINDS:
        raise ValueError(f"unknown inbound kind {kind!r}")
    body = group if isinstance(group, Mapping) else group.body
    parts = [prefix, str(body["name"]), incarnation.incarnation_of(body), _INBOUND, kind]
    return ".".join(p for p in parts if p is not None)


def dataset_group_topic_prefix(prefix: str, group: Mapping[str, Any] | Any) -> str:
    """``<prefix>.<group>.<groupInc>.``: the name prefix of exactly one dataset group incarnation's dataset and
    inbound topics (group names have no dots, incarnations are random), what an account's Kafka ACLs cover
    (ADR 0034). A legacy group (no incarnation) has no prefix of its own and cannot be granted."""
    body = group if isinstance(group, Mapping) else group.body
    token = incarnation.incarnation_of(body)
    if token is None:
        raise ValueError(f"dataset group {body['name']!r} predates incarnations: its topics share no own prefix")
    return f"{prefix}.{body['name']}.{token}."


def account_topic_grants(prefix: str, groups: Iterable[Any]) -> dict[str, str]:
    """Topic name prefix -> account id for every live dataset group record with an incarnation: what the
    accounts' Kafka ACLs should be (ADR 0034). Groups being deleted, legacy groups and records whose ARN names
    no account get none."""
    grants: dict[str, str] = {}
    for group in groups:
        parsed = arns.parse(group.arn)
        if (
            group.body.get("status") == "DELETE PENDING"
            or parsed is None
            or not (len(parsed.account) == 12 and parsed.account.isdigit())
        ):
            continue
        try:
            grants[dataset_group_topic_prefix(prefix, group)] = parsed.account
        except (KeyError, ValueError):
            continue
    return grants


def inbound_topic_spec(topic: str, kind: str) -> TopicSpec:
    _, partitions = INBOUND_KINDS[kind]
    config = {"retention.ms": str(INBOUND_RETENTION_MS), "cleanup.policy": "delete"}
    return TopicSpec(topic, partitions, config)


def inbound_topic_pattern(prefix: str) -> str:
    """A regex matching every inbound topic of every dataset group incarnation (a consumer's subscription).
    POSIX extended syntax (librdkafka's subscription regex): no ``(?:``; ``parse_inbound_topic`` is exact."""
    escaped = prefix.replace(".", r"\.")
    kinds = "|".join(INBOUND_KINDS)  # "-" outside brackets is literal
    return rf"^{escaped}\.[A-Za-z0-9][A-Za-z0-9_-]*(\.[0-9a-f]+)?\.{_INBOUND}\.({kinds})$"


def parse_inbound_topic(prefix: str, topic: str) -> InboundTopicName | None:
    """An inbound topic's name -> its parts (the inverse of ``inbound_topic``); None for any other topic."""
    head = prefix + "."
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split(".")
    if len(parts) not in (3, 4) or parts[-2] != _INBOUND or parts[-1] not in INBOUND_KINDS:
        return None
    name = parts[0]
    group_inc = parts[1] if len(parts) == 4 else None
    if not _NAME_RE.match(name) or (group_inc is not None and not incarnation.is_token(group_inc)):
        return None
    return InboundTopicName(name, group_inc, parts[-1])


def dead_letter_topic(prefix: str) -> str:
    return f"{prefix}.dead-letters"


# Dead-letter headers, added to the original record's headers (the stream's and ingest's inbound forwarder's).
H_DLQ_REASON = "tailor-dlq-reason"
H_DLQ_ERROR = "tailor-dlq-error"
H_DLQ_TOPIC = "tailor-dlq-topic"
H_DLQ_PARTITION = "tailor-dlq-partition"
H_DLQ_OFFSET = "tailor-dlq-offset"
DEAD_LETTER_RETENTION_MS = 7 * 86400 * 1000


def dead_letter_topic_spec(prefix: str) -> TopicSpec:
    return TopicSpec(dead_letter_topic(prefix), 1, {"retention.ms": str(DEAD_LETTER_RETENTION_MS)})


def impressions_topic(prefix: str) -> str:
    """Runtime responses (recommendationId + item list) for attribution and implicit impressions."""
    return f"{prefix}.recommendations"
