"""The runtime's I/O: Redis reads (one pipelined round trip per request), model files, Kafka writes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.jobs import StatusUpdate, job_status_topic
from tailor_shared.kafka import OutgoingRecord, Producer
from tailor_shared.redis_keys import Keys, UserState, parse_user_state, user_state_commands
from tailor_shared.topics import impressions_topic

log = logging.getLogger(__name__)


class RedisState:
    """Reads the stream's serving state. Any Redis failure is UNAVAILABLE: never answer from a guess."""

    def __init__(self, url: str, history_length: int) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._history = history_length

    async def user_state(self, keys: Keys, user_id: str, event_types: Iterable[str]) -> UserState:
        types = list(event_types)
        commands = user_state_commands(keys, user_id, types, history=self._history)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                replies = await pipe.execute()
        except RedisError as err:
            raise ServiceUnavailableException(f"Redis is unavailable: {err}") from None
        return parse_user_state(replies, types, history=self._history)

    async def item_metadata(self, keys: Keys, item_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for item in item_ids:
                    pipe.hgetall(keys.metadata("item", item))
                replies = await pipe.execute()
        except RedisError as err:
            raise ServiceUnavailableException(f"Redis is unavailable: {err}") from None
        out: dict[str, dict[str, str]] = {}
        for item, reply in zip(item_ids, replies, strict=True):
            if reply:
                out[item] = {_text(k).upper(): _text(v) for k, v in reply.items()}
        return out

    async def close(self) -> None:
        await self._redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Outbox:
    """Kafka writes that must not slow a response: impressions are produced without waiting for the ack
    (a failed delivery is logged), campaign status reports are awaited."""

    def __init__(self, producer: Producer, prefix: str) -> None:
        self._producer = producer
        self._impressions = impressions_topic(prefix)
        self._status = job_status_topic(prefix)

    def impression(self, recommendation_id: str, body: Mapping[str, Any]) -> None:
        self._producer.send_nowait(
            OutgoingRecord(
                self._impressions, json.dumps(body, separators=(",", ":")).encode(), recommendation_id.encode()
            )
        )

    async def status(self, update: StatusUpdate) -> None:
        await self._producer.send(OutgoingRecord(self._status, update.to_json(), update.resource_arn.encode()))
