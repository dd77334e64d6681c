"""The inbound forwarder's batch (ADR 0024), without Kafka: records -> rows or dead letters in inbound order, the
offsets to commit, and the resolution of a topic's live group and dataset (a deleted incarnation's topic, a group
without that dataset, a dataset not ACTIVE)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tailor_ingest import domain
from tailor_ingest.catalog import Catalog
from tailor_ingest.config import IngestSettings
from tailor_ingest.inbound import InboundForwarder, live_inbound_specs
from tailor_shared import topics
from tailor_shared.records import header_dict
from tailor_shared.resources import InMemoryResources
from tailor_tools import seed


@dataclass
class FakeMessage:
    """The part of confluent_kafka.Message the forwarder reads."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = None

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def headers(self) -> list[tuple[str, bytes]]:
        return [("origin", b"test")]


def forwarder(view: InMemoryResources) -> InboundForwarder:
    settings = IngestSettings.from_env({"TAILOR_TOPIC_PREFIX": "p"})
    return InboundForwarder(settings, view, Catalog(view, "p"), producer=None, guard=None)  # type: ignore[arg-type]


def event(user: str, item: str, **extra: Any) -> bytes:
    body = {"userId": user, "sessionId": f"s-{user}", "eventType": "click", "itemId": item, "sentAt": 1_700_000_000}
    return json.dumps({**body, **extra}).encode()


def test_a_batch_forwards_good_records_and_dead_letters_bad_ones_in_order() -> None:
    group = seed.group_records("shop", {"Interactions": seed.SCHEMAS["Interactions"]})
    view = InMemoryResources(group.records)
    inbound = topics.inbound_topic("p", group.record(group.group_arn), "events")
    dead = topics.inbound_topic("p", {"name": "shop", "_incarnation": "ffff0000"}, "events")
    items = topics.inbound_topic("p", group.record(group.group_arn), "items")
    messages: list[Any] = [
        FakeMessage(inbound, 1, 7, event("u1", "i1", eventId="e-1"), b"u1"),
        FakeMessage(inbound, 1, 8, b"{oops", b"u1"),
        FakeMessage(inbound, 1, 9, event("u1", "i2"), b"u1"),
        FakeMessage(dead, 0, 3, event("u2", "i1"), b"u2"),
        FakeMessage(items, 0, 0, json.dumps({"itemId": "i1"}).encode(), b"i1"),
    ]
    fwd = forwarder(view)
    batch = fwd.prepare(messages, fwd.resolve(fwd.names(messages)))

    rows, dlq = group.topic("p", "Interactions"), topics.dead_letter_topic("p")
    assert [r.topic for r in batch.records] == [rows, dlq, rows, dlq, dlq]
    first, _, third, *_ = (header_dict(r.headers) for r in batch.records)
    assert (
        first["tailor-source"] == "put" and first["tailor-event-id"] == "e-1" and first["tailor-session-id"] == "s-u1"
    )
    assert batch.records[0].key == b"u1" and batch.records[2].key == b"u1"
    # No eventId: one derived from the inbound position, so a record forwarded again after a crash repeats it.
    assert third["tailor-event-id"] == domain.inbound_event_id(inbound, 1, 9)
    reasons = [header_dict(batch.records[n].headers)["tailor-dlq-reason"] for n in (1, 3, 4)]
    assert reasons == ["InvalidInputException", "ResourceNotFoundException", "ResourceNotFoundException"]
    assert "has no Items dataset" in header_dict(batch.records[4].headers)["tailor-dlq-error"]
    assert batch.commits == {(inbound, 1): 10, (dead, 0): 4, (items, 0): 1}
    assert batch.counts == {("events", "forwarded"): 2, ("events", "dead_letter"): 2, ("items", "dead_letter"): 1}
    assert set(batch.targets) == {rows}


def test_dead_letters_keep_the_record_and_say_where_it_came_from() -> None:
    group = seed.group_records("shop", {"Interactions": seed.SCHEMAS["Interactions"]})
    view = InMemoryResources(group.records)
    inbound = topics.inbound_topic("p", group.record(group.group_arn), "events")
    messages: list[Any] = [FakeMessage(inbound, 2, 41, b"[1]", b"k")]
    fwd = forwarder(view)
    [letter] = fwd.prepare(messages, fwd.resolve(fwd.names(messages))).records
    headers = header_dict(letter.headers)
    assert (letter.key, letter.value) == (b"k", b"[1]")
    assert headers["origin"] == "test"  # the producer's own headers stay
    assert headers["tailor-dlq-reason"] == "InvalidInputException"
    assert headers["tailor-dlq-error"] == "The record's value must be a JSON object."
    assert (headers["tailor-dlq-topic"], headers["tailor-dlq-partition"], headers["tailor-dlq-offset"]) == (
        inbound,
        "2",
        "41",
    )


def test_a_dataset_that_is_not_active_is_resource_in_use_and_every_live_group_gets_its_topics() -> None:
    pending = seed.group_records("shop", {"Interactions": seed.SCHEMAS["Interactions"]}, status="CREATE PENDING")
    view = InMemoryResources(pending.records)
    inbound = topics.inbound_topic("p", pending.record(pending.group_arn), "events")
    messages: list[Any] = [FakeMessage(inbound, 0, 0, event("u1", "i1"))]
    fwd = forwarder(view)
    [letter] = fwd.prepare(messages, fwd.resolve(fwd.names(messages))).records
    assert header_dict(letter.headers)["tailor-dlq-reason"] == "ResourceInUseException"
    specs = {s.name: s.partitions for s in live_inbound_specs("p", view)}
    assert specs == {
        topics.inbound_topic("p", pending.record(pending.group_arn), k): n for k, (_, n) in topics.INBOUND_KINDS.items()
    }
