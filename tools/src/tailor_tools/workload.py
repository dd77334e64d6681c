"""A dataset group as a direct Kafka producer sees it, and a synthetic event workload.

The stream's tests and ``bench/stream_throughput.py`` use it to stand up what the control service would
create (dataset group, schemas, datasets on the resources topic; the dataset topics) without depending on
the control service, and to produce rows exactly as ``docs/specs/topics.md`` says direct producers do.
What the stream should make of them (its reference model) needs the stream's internals, so it lives with
the tests (``tests/support/stream_oracle.py``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer as RawProducer
from confluent_kafka import TopicPartition

from tailor_shared import arns
from tailor_shared.avro import AvroCodec
from tailor_shared.incarnation import FIELD as INCARNATION
from tailor_shared.incarnation import new_incarnation
from tailor_shared.kafka import OutgoingRecord, ensure_topics, kafka_config
from tailor_shared.records import RowContext, encode_row
from tailor_shared.redis_keys import Keys
from tailor_shared.resource_view import resources_topic, resources_topic_spec
from tailor_shared.resources import ResourceRecord
from tailor_shared.schemas import avro_record
from tailor_shared.topics import DATASET_KINDS, SOURCE_PUT, dataset_topic_for, topic_spec

REGION, ACCOUNT = "us-east-1", "000000000000"
SCHEMAS: dict[str, dict[str, Any]] = {
    "Interactions": avro_record(
        "Interactions",
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        {"name": "EVENT_VALUE", "type": ["null", "float"], "default": None},
    ),
    "Items": avro_record(
        "Items",
        "ITEM_ID",
        {"name": "GENRES", "type": ["null", "string"], "categorical": True, "default": None},
        {"name": "BRAND", "type": ["null", "string"], "default": None},
        {"name": "PRICE", "type": ["null", "float"], "default": None},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True, "default": None},
        {"name": "CREATION_TIMESTAMP", "type": ["null", "long"], "default": None},
    ),
    "Users": avro_record(
        "Users",
        "USER_ID",
        {"name": "MEMBERSHIP", "type": ["null", "string"], "categorical": True, "default": None},
        {"name": "AGE", "type": ["null", "int"], "default": None},
    ),
    "Actions": avro_record(
        "Actions",
        "ACTION_ID",
        {"name": "CATEGORY", "type": ["null", "string"], "categorical": True, "default": None},
        {"name": "ACTION_EXPIRATION_TIMESTAMP", "type": ["null", "long"], "default": None},
    ),
    "Action_Interactions": avro_record("Action_Interactions", "USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"),
}


@dataclass
class DatasetGroup:
    """One dataset group with every dataset type, named ``name`` under a topic prefix. ``incarnated`` gives
    the group and its datasets ``_incarnation`` tokens as control does (ADR 0012); without, they are legacy
    records (name-only topics and keys)."""

    prefix: str
    name: str
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: SCHEMAS)
    incarnated: bool = False

    def __post_init__(self) -> None:
        self.arn = arns.dataset_group_arn(REGION, ACCOUNT, self.name)
        self.codecs = {t: AvroCodec(s) for t, s in self.schemas.items()}
        self.schema_arns = {t: arns.schema_arn(REGION, ACCOUNT, f"{self.name}-{t.lower()}") for t in self.schemas}
        self.dataset_arns = {t: arns.dataset_arn(REGION, ACCOUNT, self.name, t) for t in self.schemas}
        self.incarnation = new_incarnation() if self.incarnated else None
        self.dataset_incarnations = {t: new_incarnation() if self.incarnated else None for t in DATASET_KINDS}

    def _group_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "datasetGroupArn": self.arn, "status": "ACTIVE"}
        if self.incarnation is not None:
            body[INCARNATION] = self.incarnation
        return body

    def _dataset_body(self, dataset_type: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "datasetArn": self.dataset_arns.get(dataset_type),
            "datasetGroupArn": self.arn,
            "datasetType": dataset_type,
            "schemaArn": self.schema_arns.get(dataset_type),
            "name": f"{self.name}-{dataset_type.lower()}",
            "status": "ACTIVE",
        }
        if self.dataset_incarnations[dataset_type] is not None:
            body[INCARNATION] = self.dataset_incarnations[dataset_type]
        return body

    def keys(self) -> Keys:
        """The group's Redis keys (``redis_keys.Keys.for_group``)."""
        return Keys.for_group(self.prefix, self._group_body())

    def resources(self) -> list[ResourceRecord]:
        out = [ResourceRecord(self.arn, "datasetGroup", self._group_body())]
        for t, schema in self.schemas.items():
            out.append(
                ResourceRecord(
                    self.schema_arns[t],
                    "schema",
                    {
                        "name": f"{self.name}-{t.lower()}",
                        "schemaArn": self.schema_arns[t],
                        "schema": json.dumps(schema),
                    },
                )
            )
            body = self._dataset_body(t)
            out.append(ResourceRecord(self.dataset_arns[t], "dataset", body, parent_arn=self.arn))
        return out

    def topic(self, dataset_type: str) -> str:
        """The dataset's topic, derived from the records (``topics.dataset_topic_for``)."""
        return dataset_topic_for(self.prefix, self._group_body(), self._dataset_body(dataset_type))

    def create(self, bootstrap: str, *, resources: bool = True) -> None:
        """Create the dataset topics, then publish the resources (as CreateDataset would)."""
        ensure_topics(bootstrap, [topic_spec(self.topic(t), t) for t in DATASET_KINDS])
        if resources:
            publish_resources(bootstrap, self.prefix, self.resources())

    def record(
        self,
        dataset_type: str,
        row: Mapping[str, Any],
        *,
        event_id: str | None = None,
        session_id: str | None = None,
        source: str = SOURCE_PUT,
        import_job_arn: str | None = None,
    ) -> OutgoingRecord:
        ctx = RowContext(
            dataset_arn=self.dataset_arns[dataset_type],
            schema_arn=self.schema_arns[dataset_type],
            source=source,
            import_job_arn=import_job_arn,
            event_id=event_id,
            session_id=session_id,
        )
        return encode_row(self.topic(dataset_type), dataset_type, self.codecs[dataset_type], row, ctx)


def publish_resources(bootstrap: str, prefix: str, records: list[ResourceRecord]) -> None:
    ensure_topics(bootstrap, [resources_topic_spec(prefix)])
    producer = RawProducer({**kafka_config(bootstrap), "enable.idempotence": True})
    for record in records:
        producer.produce(resources_topic(prefix), value=record.to_json(), key=record.arn.encode())
    if producer.flush(30):
        raise RuntimeError("resources were not delivered")


def produce(bootstrap: str, records: list[OutgoingRecord], **config: Any) -> None:
    """Produce and wait for every delivery (a direct producer, as in docs/specs/topics.md; lz4 like Tailor's
    own producers, so consumers are tested on compressed batches)."""
    producer = RawProducer(
        {
            **kafka_config(bootstrap),
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            **config,
        }
    )
    for record in records:
        while True:
            try:
                producer.produce(record.topic, value=record.value, key=record.key, headers=list(record.headers))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("records were not delivered")


@dataclass(frozen=True)
class Event:
    """One generated record: dataset type, row and envelope."""

    dataset_type: str
    row: Mapping[str, Any]
    event_id: str | None = None
    session_id: str | None = None
    source: str = SOURCE_PUT


def mixed_workload(seed: int, events: int, now: int, users: int = 40, items: int = 60) -> Iterator[Event]:
    """Catalogue rows, then a stream with what the state must handle: several event types, repeats of an
    event id, anonymous sessions later linked to users (before and after the link), bulk rows, rows without
    an event id, metadata updates, action interactions."""
    rnd = random.Random(seed)
    genres = ["Comedy", "Drama", "Action", "Horror", "Sci-Fi"]
    for i in range(items):
        row = {
            "ITEM_ID": f"i{i}",
            "GENRES": "|".join(rnd.sample(genres, rnd.randint(1, 2))),
            "BRAND": rnd.choice(["acme", "globex", None]),
            "PRICE": float(rnd.randint(1, 100)),
            "DESCRIPTION": "a thing",
            "CREATION_TIMESTAMP": now - 86400,
        }
        yield Event("Items", row)
    for u in range(users):
        yield Event("Users", {"USER_ID": f"u{u}", "MEMBERSHIP": rnd.choice(["gold", "silver|trial"]), "AGE": 20 + u})
    for a in range(5):
        yield Event("Actions", {"ACTION_ID": f"a{a}", "CATEGORY": "promo", "ACTION_EXPIRATION_TIMESTAMP": None})
    sessions = [f"sess-{k}" for k in range(8)]
    linked: dict[str, str] = {}
    recent: list[Event] = []
    for n in range(events):
        ts = now - 10800 + (n * 10800) // events  # the last three hours: several trend windows
        roll = rnd.random()
        item = f"i{min(int(rnd.paretovariate(1.2)) - 1, items - 1)}"
        event_type = rnd.choice(["click", "click", "watch", "Purchase"])
        if roll < 0.05 and recent:
            yield rnd.choice(recent)  # a retried delivery: same event id (or same content)
            continue
        if roll < 0.20:
            sess = rnd.choice(sessions)
            if sess in linked and rnd.random() < 0.5:
                ev = Event("Interactions", interaction_row(linked[sess], item, ts, event_type), f"e{seed}-{n}", sess)
            elif rnd.random() < 0.15:
                linked.setdefault(sess, f"u{rnd.randrange(users)}")
                ev = Event("Interactions", interaction_row(linked[sess], item, ts, event_type), f"e{seed}-{n}", sess)
            else:
                ev = Event("Interactions", interaction_row("", item, ts, event_type), f"e{seed}-{n}", sess)
        elif roll < 0.27:
            ev = Event(
                "Interactions", interaction_row(f"u{rnd.randrange(users)}", item, ts - 86400, event_type), source="bulk"
            )
        elif roll < 0.32:
            row = {"USER_ID": f"u{rnd.randrange(users)}", "ACTION_ID": f"a{rnd.randrange(5)}", "TIMESTAMP": ts}
            ev = Event("Action_Interactions", {**row, "EVENT_TYPE": rnd.choice(["Viewed", "Taken"])}, f"a{seed}-{n}")
        elif roll < 0.34:
            row = {"ITEM_ID": item, "GENRES": rnd.choice(genres), "BRAND": None, "PRICE": float(rnd.randint(1, 9))}
            ev = Event("Items", {**row, "DESCRIPTION": None, "CREATION_TIMESTAMP": now})
        elif roll < 0.40:
            ev = Event("Interactions", interaction_row(f"u{rnd.randrange(users)}", item, ts, event_type))  # no event id
        else:
            ev = Event(
                "Interactions", interaction_row(f"u{rnd.randrange(users)}", item, ts, event_type), f"e{seed}-{n}"
            )
        recent = [*recent, ev][-20:]
        yield ev


def interaction_row(user: str, item: str, ts: int, event_type: str) -> dict[str, Any]:
    """A row of the ``SCHEMAS["Interactions"]`` schema (an empty user = an anonymous session's event)."""
    return {"USER_ID": user, "ITEM_ID": item, "TIMESTAMP": ts, "EVENT_TYPE": event_type, "EVENT_VALUE": None}


def to_records(group: DatasetGroup, events: list[Event]) -> list[OutgoingRecord]:
    return [
        group.record(e.dataset_type, e.row, event_id=e.event_id, session_id=e.session_id, source=e.source)
        for e in events
    ]


def high_watermarks(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> end offset, for every partition of the topics."""
    consumer = RawConsumer({**kafka_config(bootstrap), "group.id": "watermarks", "enable.auto.commit": False})
    try:
        out: dict[tuple[str, int], int] = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            for partition in meta.partitions:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                out[(topic, partition)] = int(high)
        return out
    finally:
        consumer.close()
