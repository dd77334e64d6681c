"""Test harness: the real local stack (Kafka + Redis), and per-test isolation.

The ``stack`` session fixture brings the project's local stack up (or uses the one already running);
if it cannot, the tests that need it fail with the reason — they never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tailor_shared import localstack


@pytest.fixture(scope="session")
def stack() -> localstack.StackConfig:
    cfg = localstack.StackConfig.from_env()
    try:
        localstack.up(cfg)
    except localstack.StackError as err:
        pytest.fail(f"the local stack (Kafka + Redis) could not start: {err}", pytrace=False)
    return cfg


@pytest.fixture
def unique() -> str:
    """A short unique token for topic names, group ids, key prefixes and resource names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_prefix(unique: str) -> str:
    return f"test-{unique}"


@pytest.fixture
def redis_client(stack: localstack.StackConfig, unique: str) -> Iterator[redis.Redis[bytes]]:
    """A client whose keys the test must prefix with ``test:<unique>:``; they are deleted afterwards."""
    client = redis.Redis.from_url(stack.redis_url)
    yield client
    for key in client.scan_iter(match=f"test:{unique}:*", count=1000):
        client.delete(key)
    client.close()
