"""What each dataset group stores on the local stack: topic records and bytes, Redis keys and memory.

``tailor local storage`` prints it. Names come from the resource records (ADR 0012), so a deleted group's
storage that the janitor has not reclaimed yet shows up under "not owned by a live dataset group".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from confluent_kafka import Consumer, TopicPartition

from tailor_shared import storage, topics
from tailor_shared.kafka import kafka_config
from tailor_shared.redis_client import redis_from_url
from tailor_shared.redis_keys import Keys
from tailor_tools.localstack import StackConfig

UNOWNED = "(not owned by a live dataset group)"


@dataclass
class GroupUsage:
    name: str
    arn: str
    topics: dict[str, int] = field(default_factory=dict)  # topic -> records on it now
    topic_bytes: int = 0
    redis_keys: int = 0
    redis_bytes: int = 0

    @property
    def records(self) -> int:
        return sum(self.topics.values())


def _records(consumer: Consumer, topic: str) -> int:
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None:
        return 0
    total = 0
    for p in meta.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total += max(0, high - low)
    return total


def _topic_bytes(data_dir: Path, topic: str) -> int:
    """Bytes of the topic's partitions in the local broker's log directory (segments and indexes)."""
    return sum(
        f.stat().st_size for d in data_dir.glob(f"{topic}-*") if d.name[len(topic) + 1 :].isdigit() for f in d.iterdir()
    )


def _redis_usage(client: redis.Redis[bytes], pattern: str) -> tuple[int, int]:
    keys = list(client.scan_iter(match=pattern, count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key)
    return len(keys), sum(int(n or 0) for n in pipe.execute())


def dataset_group_usage(cfg: StackConfig, prefix: str) -> list[GroupUsage]:
    """Every live dataset group's storage, then what lies under the prefix that no live group owns."""
    data_dir = cfg.state_dir / "kafka-data"
    consumer = Consumer({**kafka_config(cfg.kafka_bootstrap), "group.id": f"{prefix}-usage-probe"})
    client = redis_from_url(cfg.redis_url)
    try:
        with storage.records(cfg.kafka_bootstrap, prefix) as view:
            groups: list[GroupUsage] = []
            owned_topics: set[str] = set()
            owned_tags: set[str] = set()
            for group in view.list("datasetGroup"):
                usage = GroupUsage(str(group.body["name"]), group.arn)
                for dataset in view.list("dataset", group.arn):
                    topic = topics.dataset_topic_for(prefix, group, dataset)
                    usage.topics[topic] = _records(consumer, topic)
                    usage.topic_bytes += _topic_bytes(data_dir, topic)
                    owned_topics.add(topic)
                keys = Keys.for_group(prefix, group)
                owned_tags.add(keys.dataset_group)
                usage.redis_keys, usage.redis_bytes = _redis_usage(client, keys.pattern())
                groups.append(usage)
        unowned = GroupUsage(UNOWNED, "")
        for topic in _dataset_topics(consumer, prefix):
            if topic not in owned_topics:
                unowned.topics[topic] = _records(consumer, topic)
                unowned.topic_bytes += _topic_bytes(data_dir, topic)
        for key in client.scan_iter(match=f"{prefix}:{{*}}:*", count=1000):
            tag = key.decode(errors="replace").split("{", 1)[1].split("}", 1)[0]
            if tag not in owned_tags:
                unowned.redis_keys += 1
                unowned.redis_bytes += int(client.memory_usage(key) or 0)
        return [*groups, unowned] if unowned.topics or unowned.redis_keys else groups
    finally:
        consumer.close()
        client.close()


def _dataset_topics(consumer: Consumer, prefix: str) -> Iterable[str]:
    for name in consumer.list_topics(timeout=10).topics:
        if topics.parse_dataset_topic(prefix, name) is not None:
            yield name


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError
