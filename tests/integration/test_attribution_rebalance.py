"""The attribution worker outlives rebalances: dataset groups created while it runs change its pattern
subscription, and a periodic offset commit that lands while nothing is assigned must not crash it (it once
stopped the whole stream app, and with it every live update, in the NBA and demo tests)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tailor_shared.redis_client import async_redis_from_url
from tailor_shared.resource_view import ResourceView
from tailor_stream.attribution import AttributionWorker
from tailor_stream.config import StreamSettings
from tailor_stream.processor import close_redis
from tailor_tools import localstack
from tailor_tools import workload as wl

pytestmark = pytest.mark.integration


async def test_the_attribution_worker_survives_commits_with_nothing_assigned_and_rebalances(
    stack: localstack.StackConfig, topic_prefix: str
) -> None:
    settings = StreamSettings.from_env(
        {
            "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "TAILOR_REDIS_URL": stack.redis_url,
            "TAILOR_TOPIC_PREFIX": topic_prefix,
            # New groups' topics are found within 1 s (30 s by default), so the loop below sees rebalances.
            "TAILOR_STREAM_ATTRIBUTION_TOPIC_REFRESH_MS": "1000",
        }
    )
    view = ResourceView(stack.kafka_bootstrap, topic_prefix)
    view.start()
    redis = async_redis_from_url(stack.redis_url)
    worker = AttributionWorker(settings, view, redis)
    try:
        await worker.start()
        await worker._commit()  # before the group has assigned anything: aiokafka raises on a bare commit
        stopping = asyncio.Event()
        task = asyncio.create_task(worker.run(stopping))
        deadline = time.monotonic() + 10
        n = 0
        while time.monotonic() < deadline:  # each new group's Interactions topic rebalances the worker's group
            await asyncio.to_thread(wl.DatasetGroup(topic_prefix, f"g{n}").create, stack.kafka_bootstrap)
            n += 1
            await asyncio.sleep(0.7)
            assert not task.done(), f"the worker stopped: {task.exception()!r}"
        stopping.set()
        await asyncio.wait_for(task, timeout=10)
    finally:
        await worker.stop()
        await close_redis(redis)
        view.stop()
