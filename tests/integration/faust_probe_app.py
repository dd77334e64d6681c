"""A minimal faust-streaming app: one agent copies each record of a topic into a Redis list.

Run by ``test_faust_agent_writes_redis`` as a real worker process against the local stack.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import faust
import redis.asyncio as aioredis

TOPIC = os.environ["PROBE_TOPIC"]
KEY = os.environ["PROBE_REDIS_KEY"]

app = faust.App(
    os.environ["PROBE_APP_ID"],
    broker=f"kafka://{os.environ['PROBE_KAFKA']}",
    store="memory://",
    topic_partitions=1,
    web_enabled=False,
    producer_acks=-1,
)
source = app.topic(TOPIC, value_serializer="raw", key_serializer="raw")
store = aioredis.Redis.from_url(os.environ["PROBE_REDIS_URL"])


@app.agent(source)  # type: ignore[arg-type]
async def copy_to_redis(stream: faust.Stream[bytes]) -> AsyncIterator[None]:
    async for value in stream:
        await store.rpush(KEY, value)
        yield None


if __name__ == "__main__":
    app.main()
