"""Request quotas (tailor_shared.quotas) on the real Redis: replicas share one token bucket, a call over the rate
is ThrottlingException through the gRPC interceptor, and an unreachable Redis admits calls."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import grpc
import pytest
import redis.asyncio as aioredis

from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor_ingest.config import IngestSettings
from tailor_ingest.server import build
from tailor_shared.config import QuotaSettings
from tailor_shared.errors import ERROR_TYPE_METADATA_KEY, ThrottlingException
from tailor_shared.grpc_server import start_server
from tailor_shared.quotas import RequestQuotas
from tailor_tools import identity, localstack, seed
from tailor_tools.client import aio_channel

pytestmark = pytest.mark.integration


@pytest.fixture
async def clients(stack: localstack.StackConfig) -> AsyncIterator[list[aioredis.Redis[bytes]]]:
    made = [aioredis.Redis.from_url(stack.redis_url) for _ in range(2)]
    yield made
    for client in made:
        await client.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose


async def test_replicas_share_one_bucket(clients: list[aioredis.Redis[bytes]], topic_prefix: str) -> None:
    settings = QuotaSettings({"GetRecommendations": 50.0}, lease=0.1)  # leases of 5 tokens
    replicas = [RequestQuotas(c, topic_prefix, settings, "test") for c in clients]
    request = SimpleNamespace(campaign_arn="arn:aws:personalize:us-east-1:000000000000:campaign/c")
    admitted = throttled = 0
    started = time.monotonic()
    for n in range(300):
        try:
            await replicas[n % 2].admit("GetRecommendations", request)
            admitted += 1
        except ThrottlingException as err:
            assert err.message == "Rate exceeded"
            throttled += 1
    elapsed = time.monotonic() - started
    # One second of the rate (the bucket's burst), what refilled meanwhile, at most one lease per replica extra.
    assert 50 <= admitted <= 50 + 50 * elapsed + 2 * 5 + 1, (admitted, elapsed)
    assert throttled == 300 - admitted > 0
    # Another campaign has its own bucket.
    other = SimpleNamespace(campaign_arn="arn:aws:personalize:us-east-1:000000000000:campaign/other")
    await replicas[0].admit("GetRecommendations", other)


async def test_an_unreachable_redis_admits(topic_prefix: str) -> None:
    down = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    quotas = RequestQuotas(down, topic_prefix, QuotaSettings({"PutEvents": 1.0}), "test")
    request = SimpleNamespace(tracking_id="t-1")
    for _ in range(5):
        await quotas.admit("PutEvents", request)  # never raises: quotas guard capacity, not correctness
    await down.aclose()  # type: ignore[attr-defined]


async def test_put_items_over_the_rate_are_throttled(stack: localstack.StackConfig, topic_prefix: str) -> None:
    group = seed.seed_group(stack.kafka_bootstrap, topic_prefix, "q", {"Items": seed.SCHEMAS["Items"]})
    settings = IngestSettings.from_env(
        {
            "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "TAILOR_REDIS_URL": stack.redis_url,
            "TAILOR_TOPIC_PREFIX": topic_prefix,
            "TAILOR_INGEST_PORT": "0",
            "TAILOR_INGEST_WORKER": "false",
            "TAILOR_REQUEST_QUOTAS": json.dumps({"PutItems": 3}),
            "TAILOR_REQUEST_QUOTA_LEASE": "0",
            **identity.ensure(stack.state_dir).env(),
        }
    )
    services, hooks = await build(settings)
    handle = await start_server(settings.common, services)
    channel = aio_channel(f"127.0.0.1:{handle.port}")
    stub = events_pb2_grpc.PersonalizeEventsStub(channel)
    codes: list[str] = []
    try:
        for n in range(8):
            item = events_pb2.Item(item_id=f"i{n}", properties=json.dumps({"genres": "Drama", "creationTimestamp": 1}))
            try:
                await stub.PutItems(events_pb2.PutItemsRequest(dataset_arn=group.dataset_arn("Items"), items=[item]))
                codes.append("OK")
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                trailing = dict(err.trailing_metadata() or ())
                codes.append(str(trailing[ERROR_TYPE_METADATA_KEY]))
    finally:
        await channel.close()
        await handle.stop()
        for hook in hooks:
            await hook()
    assert codes[:3] == ["OK"] * 3 and "ThrottlingException" in codes[3:], codes
