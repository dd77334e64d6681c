"""The runtime's impression records, written off the request path (ADR 0019 §4): every record a request queues
reaches the recommendations topic once, keyed by its recommendationId, both while traffic flows (batches, produced in
chunks) and for the first request after the writer fell idle (it must be woken)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from tailor_runtime.adapters import Impressions, impressions_for
from tailor_shared.kafka import TopicSpec, ensure_topics
from tailor_shared.topics import impressions_topic
from tailor_tools import localstack


def _read(stack: localstack.StackConfig, topic: str, want: int, timeout_s: float = 30.0) -> dict[str, list[Any]]:
    consumer = Consumer(
        {"bootstrap.servers": stack.kafka_bootstrap, "group.id": f"{topic}-probe", "enable.auto.commit": False}
    )
    found: dict[str, list[Any]] = {}
    try:
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        deadline = time.monotonic() + timeout_s
        while sum(len(v) for v in found.values()) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            found.setdefault((msg.key() or b"").decode(), []).append(json.loads(msg.value() or b"{}"))
    finally:
        consumer.close()
    return found


def test_queued_impressions_are_produced_once_each_also_after_an_idle_period(
    stack: localstack.StackConfig, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle writer wakes only when a request queues a record: with its timer far beyond the read's timeout, a
    # record queued after the idle period arrives only if the request woke it.
    monkeypatch.setattr(Impressions, "IDLE_WAKE_S", 600.0)
    topic = impressions_topic(topic_prefix)
    ensure_topics(stack.kafka_bootstrap, [TopicSpec(topic, partitions=2)])
    writer: Impressions = impressions_for(stack.kafka_bootstrap, topic_prefix)
    try:
        burst = {f"RID-burst-{n}": {"recommendationId": f"RID-burst-{n}", "itemList": [str(n)]} for n in range(300)}
        assert len(burst) > 4 * Impressions.DRAIN_CHUNK  # a batch goes in several chunks
        for rid, body in burst.items():
            writer.send(rid, body)
        assert _read(stack, topic, len(burst)).keys() == burst.keys()
        time.sleep(3 * Impressions.BATCH_S + 0.2)  # the writer found its queue empty and went to sleep
        writer.send("RID-after-idle", {"recommendationId": "RID-after-idle", "itemList": ["x"]})
        found = _read(stack, topic, len(burst) + 1)
        assert "RID-after-idle" in found
    finally:
        writer.close()
    assert all(len(records) == 1 for records in found.values())
    assert found["RID-burst-7"] == [burst["RID-burst-7"]]
