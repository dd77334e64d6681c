"""The local stack is a real Apache Kafka broker and a real Redis: round trips through each client."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from tailor_shared.kafka import PRODUCED, OutgoingRecord, TopicSpec, ensure_topics
from tailor_shared.kafka import Producer as TailorProducer
from tailor_tools import localstack

pytestmark = pytest.mark.integration


def test_broker_is_apache_kafka_kraft(stack: localstack.StackConfig) -> None:
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    meta = admin.list_topics(timeout=10)
    assert len(meta.brokers) == 1
    assert localstack.kafka_ready(stack)
    # Ask the broker itself (the stack may have been started from another checkout): a KRaft node.
    broker_id = str(next(iter(meta.brokers)))
    resource = ConfigResource(ConfigResource.Type.BROKER, broker_id)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["process.roles"].value == "broker,controller"


def test_idempotent_producer_and_consumer_group_round_trip(stack: localstack.StackConfig, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.roundtrip"
    ensure_topics(stack.kafka_bootstrap, [TopicSpec(topic, partitions=3)])
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True, "acks": "all"})
    delivered: list[tuple[str | None, int]] = []

    def on_delivery(err: object, msg: object) -> None:
        assert err is None, err
        delivered.append((msg.key().decode(), msg.offset()))  # type: ignore[attr-defined]

    for i in range(50):
        producer.produce(topic, key=f"user-{i % 7}".encode(), value=f"v{i}".encode(), on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert len(delivered) == 50

    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka_bootstrap,
            "group.id": f"{topic_prefix}-group",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(seen) < 50 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        seen.append(msg.value() or b"")
    consumer.commit(asynchronous=False)
    committed = consumer.committed(consumer.assignment(), timeout=10)
    consumer.close()
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(50))
    assert sum(tp.offset for tp in committed) == 50


async def test_tailor_producer_acknowledges_after_delivery(stack: localstack.StackConfig, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.acked"
    ensure_topics(stack.kafka_bootstrap, [TopicSpec(topic)])
    producer = TailorProducer(stack.kafka_bootstrap)
    delivered_before = PRODUCED.labels("ok")._value.get()
    try:
        results = await producer.send_many(OutgoingRecord(topic, f"e{i}".encode(), b"k") for i in range(10))
    finally:
        producer.close()
    assert [r.offset for r in results] == list(range(10))
    assert {r.topic for r in results} == {topic}
    assert PRODUCED.labels("ok")._value.get() - delivered_before == 10  # the /metrics counter of deliveries


async def test_aiokafka_round_trip(stack: localstack.StackConfig, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.aio"
    ensure_topics(stack.kafka_bootstrap, [TopicSpec(topic)])
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka_bootstrap, group_id=f"{topic_prefix}-aio", auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < 5:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend(r.value for r in records)
    finally:
        await consumer.stop()
    assert got == [f"m{i}".encode() for i in range(5)]


def test_redis_pipeline_round_trip(redis_client: redis.Redis[bytes], unique: str) -> None:
    key = f"test:{unique}:hist"
    pipe = redis_client.pipeline(transaction=True)
    pipe.lpush(key, "a", "b", "c")
    pipe.ltrim(key, 0, 1)
    pipe.hset(f"test:{unique}:meta", mapping={"genre": "comedy", "year": "1999"})
    pipe.expire(key, 60)
    results = pipe.execute()
    assert results[0] == 3
    assert redis_client.lrange(key, 0, -1) == [b"c", b"b"]
    assert redis_client.hgetall(f"test:{unique}:meta") == {b"genre": b"comedy", b"year": b"1999"}
    assert 0 < redis_client.ttl(key) <= 60


def test_purge_prefix_deletes_exactly_that_prefix(stack: localstack.StackConfig, topic_prefix: str) -> None:
    """What tests and `tailor local purge` use to clean up: a prefix's topics, Faust-style topics, consumer
    groups and Redis keys go; a sibling whose name merely starts with the same characters stays."""
    mine, sibling = f"{topic_prefix}-x", f"{topic_prefix}-xy"
    topics = [f"{mine}.a.interactions", f"{mine}-stream-__assignor-__leader", f"{sibling}.a.interactions"]
    ensure_topics(stack.kafka_bootstrap, [TopicSpec(t, partitions=1) for t in topics])
    consumer = Consumer(
        {"bootstrap.servers": stack.kafka_bootstrap, "group.id": f"{mine}-group", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topics[0]])
    consumer.poll(2)
    consumer.close()
    client = redis.Redis.from_url(stack.redis_url)
    client.set(f"{mine}:{{a}}:k1", "1")
    client.set(f"{mine}:{{a}}:k2", "1")
    client.set(f"{sibling}:{{a}}:k", "1")

    purged = localstack.purge_prefix(stack, mine)

    left = set(AdminClient({"bootstrap.servers": stack.kafka_bootstrap}).list_topics(timeout=10).topics)
    assert not left & set(topics[:2]) and topics[2] in left
    assert (purged.topics, purged.keys) == (2, 2)
    assert purged.groups == 1
    assert client.get(f"{sibling}:{{a}}:k") == b"1" and not client.exists(f"{mine}:{{a}}:k1", f"{mine}:{{a}}:k2")
    client.close()
