"""`tailor local storage`: what each dataset group stores, from the resource records, the broker and Redis."""

from __future__ import annotations

import pytest
import redis

from tailor_tools import localstack, usage, workload

pytestmark = pytest.mark.integration


def test_each_dataset_group_reports_its_records_bytes_and_keys(
    stack: localstack.StackConfig, topic_prefix: str
) -> None:
    shop = workload.DatasetGroup(topic_prefix, "shop", incarnated=True)
    shop.create(stack.kafka_bootstrap)
    gone = workload.DatasetGroup(topic_prefix, "gone", incarnated=True)
    gone.create(stack.kafka_bootstrap, resources=False)  # storage without a live record: not owned by any group
    rows = [workload.interaction_row(f"u{i % 7}", f"i{i}", 1_700_000_000 + i, "click") for i in range(120)]
    workload.produce(
        stack.kafka_bootstrap, [shop.record("Interactions", r, event_id=f"e{i}") for i, r in enumerate(rows)]
    )
    workload.produce(stack.kafka_bootstrap, [gone.record("Interactions", rows[0], event_id="x")])
    client = redis.Redis.from_url(stack.redis_url)
    client.set(f"{shop.keys().ns}:probe:1", "x" * 100)
    client.set(f"{shop.keys().ns}:probe:2", "y")
    client.set(f"{gone.keys().ns}:probe", "z")
    client.close()

    report = {row.name: row for row in usage.dataset_group_usage(stack, topic_prefix)}

    assert set(report) == {"shop", usage.UNOWNED}
    assert report["shop"].records == 120 and report["shop"].topics[shop.topic("Interactions")] == 120
    assert report["shop"].topic_bytes > 120 * 20  # every record is on the broker's disk
    assert report["shop"].redis_keys == 2 and report["shop"].redis_bytes > 100
    assert report[usage.UNOWNED].records == 1 and report[usage.UNOWNED].redis_keys == 1
