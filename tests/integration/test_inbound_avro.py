"""Schema Registry Avro on the inbound topics (ADR 0024 §7), as a producer uses it: confluent-kafka's own
``AvroSerializer`` + ``SerializingProducer`` (no Tailor import in the producing code) against the project's
Confluent-compatible registry (``tools/schema-registry``, started on a free port from ``tailor_tools.localstack``).

Real control, ingest (its forwarder) and stream on the real Kafka and Redis: ingest registers the dataset's schema
under ``<inbound topic>-value``; rows serialized in it reach the dataset topic as PutEvents rows and the users'
Redis histories; a record with an unknown schema id, one whose Avro body is cut short and one breaking PutEvents'
rules land in the dead letters with InvalidInputException while the records after them flow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer, SerializingProducer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer

from tailor_shared import storage
from tailor_shared.dataset_reader import count_records, read_dataset
from tailor_shared.schemas import avro_record
from tailor_tools import localstack
from tailor_tools.client import Client
from tailor_tools.ports import free_port
from tests.conftest import RunningService
from tests.integration.test_inbound_topics import _dead_letters, _history, _inbound_topics, _poll

pytestmark = pytest.mark.integration

INTERACTIONS = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
T0 = 1_700_000_000


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """The project's registry on its own port and directory (the shared stack runs none)."""
    cfg = localstack.StackConfig(state_dir=tmp_path / "stack", schema_registry=True, schema_registry_port=free_port())
    try:
        assert localstack.start_schema_registry(cfg) == "started"
        yield cfg.schema_registry_url
    finally:  # also when it never became ready: no process is left behind
        localstack.stop_process(cfg, "schema-registry")


def test_avro_serializer_producer_writes_dataset_rows(
    spawn_service: Callable[..., RunningService], registry: str
) -> None:
    control = spawn_service("control")
    spawn_service("ingest", TAILOR_SCHEMA_REGISTRY_URL=registry)
    spawn_service("stream", wait=False, TAILOR_STREAM_JANITOR_INTERVAL_S="0")
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    personalize = Client(control.address, "control")
    probe: redis.Redis[bytes] = redis.Redis.from_url(control.env["TAILOR_REDIS_URL"])
    client = SchemaRegistryClient({"url": registry})  # what a producer's serializer uses
    try:
        group = personalize.call("CreateDatasetGroup", name="avroshop")["datasetGroupArn"]
        personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        schema_arn = personalize.call("CreateSchema", name="avro-interactions", schema=json.dumps(INTERACTIONS))
        dataset = personalize.call(
            "CreateDataset",
            name="interactions",
            schemaArn=schema_arn["schemaArn"],
            datasetGroupArn=group,
            datasetType="Interactions",
        )["datasetArn"]
        personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
        _poll(lambda: len(_inbound_topics(bootstrap, prefix, "avroshop")), 5, "the group's inbound topics")
        topic = _inbound_topics(bootstrap, prefix, "avroshop")["events"]

        # --- Tailor registered the dataset's schema under TopicNameStrategy's subject -------------------------

        def registered() -> object:
            try:
                return json.loads(client.get_version(f"{topic}-value", 1).schema.schema_str or "")
            except SchemaRegistryError as err:
                return err.http_status_code

        _poll(registered, INTERACTIONS, "the dataset's schema in the registry")

        # --- a producer as any Python service writes one: the standard serializer, dataset rows as dicts ------
        serializer = AvroSerializer(client, json.dumps(INTERACTIONS))
        producer = SerializingProducer(
            {
                "bootstrap.servers": bootstrap,
                "key.serializer": StringSerializer("utf_8"),
                "value.serializer": serializer,
            }
        )

        def row(user: str, item: str, ts: int) -> dict[str, object]:
            return {"USER_ID": user, "ITEM_ID": item, "EVENT_TYPE": "click", "TIMESTAMP": ts}

        for k in range(5):
            producer.produce(topic, key="a1", value=row("a1", f"i{k}", T0 + k))
        producer.produce(topic, key="a1", value=row("a1", "i9", 99_999_999_999))  # breaks PutEvents' sentAt rule
        producer.flush(10)
        whole = serializer(row("a2", "i6", T0), SerializationContext(topic, MessageField.VALUE))
        raw = Producer({"bootstrap.servers": bootstrap})
        raw.produce(topic, b"\x00\x00\x01\x86\xa0\x02x", b"a2")  # schema id 100000: never registered
        raw.produce(topic, whole[:-4], b"a2")  # the registered id, the body cut short
        assert raw.flush(10) == 0
        producer.produce(topic, key="a2", value=row("a2", "i5", T0 + 10))
        producer.flush(10)

        # --- the rows reach the dataset topic as PutEvents rows, and the users' Redis histories -----------------
        with storage.records(bootstrap, prefix) as view:
            keys = storage.group_keys(view, prefix, group)
            events_topic = storage.dataset_topic(view, prefix, dataset)
        _poll(lambda: count_records(bootstrap, events_topic), 6, "the rows on the dataset topic")
        snap = read_dataset(bootstrap, events_topic, "Interactions", INTERACTIONS, meta_columns=True)
        assert snap.num_rows == 6
        assert set(snap.columns["_source"]) == {"put"}
        # A dataset row has no session: one per user, derived from the user id (documented in topics.md).
        sessions = {hashlib.sha256(f"session/{u}".encode()).hexdigest()[:32] for u in ("a1", "a2")}
        assert set(snap.columns["_session_id"]) == sessions
        assert len(set(snap.columns["_event_id"])) == 6
        _poll(lambda: _history(probe, keys, "a1"), [f"i{k}" for k in range(5)], "a1's events in Redis")
        _poll(lambda: _history(probe, keys, "a2"), ["i5"], "a2's event after the bad records")

        # --- the bad ones: dead letters with Personalize's exception, the flow went on ------------------------
        letters = [d for d in _dead_letters(bootstrap, prefix) if d.get("tailor-dlq-topic") == topic]
        assert [d["tailor-dlq-reason"] for d in letters] == ["InvalidInputException"] * 3, letters
        errors = sorted(d["tailor-dlq-error"] for d in letters)  # two inbound partitions: no order between them
        assert "Member must be a Unix epoch time in seconds" in errors[0] and "sentAt" in errors[0], errors
        assert errors[1].startswith("The record's Avro body does not match its schema id"), errors
        assert errors[2].startswith("The record's schema id 100000 (Confluent wire format) is not in"), errors
    finally:
        client.close()
        probe.close()
        personalize.close()
