"""The console's read API (``tailor.console.v1.TailorConsole``, docs/specs/console-api.md): training and import
progress from control's resource view, a user's recent events, trends and attribution totals from the
stream's Redis state.

Redis is read with ``tailor_shared.redis_keys``' builders and parsers (the runtime's user-state commands, the
trend window layout of docs/specs/redis-keys.md, the attribution worker's totals), never with key formats of
its own. Every read is bounded: a Redis that does not answer is ServiceUnavailableException, not a hang.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from redis.exceptions import RedisError

from tailor.console.v1 import console_pb2, console_pb2_grpc
from tailor_control.domain import console as domain
from tailor_shared import redis_keys as rk
from tailor_shared.iam import CONSOLE_SERVICE
from tailor_shared.redis_client import async_redis_from_url, redis_unavailable
from tailor_shared.resources import ResourceReader
from tailor_shared.trends import latest_trend_windows

SERVICE_NAME = CONSOLE_SERVICE
T = TypeVar("T")
#: The longest one console read waits for Redis (the console polls; a slow answer is worth less than an error).
REDIS_TIMEOUT_S = 2.0


class StreamState:
    """Read-only access to the stream's Redis state of a dataset group."""

    def __init__(self, url: str) -> None:
        self._redis = async_redis_from_url(url, socket_connect_timeout=REDIS_TIMEOUT_S)

    async def close(self) -> None:
        await self._redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose

    async def history(self, keys: rk.Keys, user_id: str, limit: int) -> list[rk.HistoryEntry]:
        """The user's and the same-id session's latest ``limit`` interactions, newest first (the runtime's
        user-state read without filter windows)."""
        commands = rk.user_state_commands(keys, user_id, history=limit)

        async def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute())

        return rk.parse_user_state(await self._bounded(read()), history=limit).history

    async def trend_windows(self, keys: rk.Keys, size_s: int) -> tuple[int | None, dict[str, float], dict[str, float]]:
        """The latest complete ``size_s`` window before the newest event time the stream saw (``tr:maxts``), and
        the window before it: (its start or None, counts, previous counts) — what Trending-Now compares."""

        return await self._bounded(latest_trend_windows(self._redis, keys, size_s))

    async def attribution_totals(self, keys: rk.Keys, tag: str) -> dict[bytes, bytes]:
        return await self._bounded(self._redis.hgetall(keys.attribution_totals(tag)))

    async def _bounded(self, read: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                return await read
        except (RedisError, TimeoutError, OSError) as err:
            raise redis_unavailable(err) from None


class ConsoleHandlers:
    """One method per console action: request dict in (camelCase), response dict out."""

    def __init__(self, view: ResourceReader, state: StreamState, prefix: str) -> None:
        self._view = view
        self._state = state
        self._prefix = prefix

    async def DescribeTrainingProgress(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return domain.training_progress(self._view, request)

    async def DescribeDatasetImportJobProgress(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return domain.import_progress(self._view, request)

    async def ListRecentEvents(self, request: Mapping[str, Any]) -> dict[str, Any]:
        query = domain.recent_events_query(self._view, request)
        keys = rk.Keys.for_group(self._prefix, query.group)
        history = await self._state.history(keys, query.user_id, query.max_results)
        return domain.recent_events(history, query.max_results)

    async def ListTrendingItems(self, request: Mapping[str, Any]) -> dict[str, Any]:
        query = domain.trending_query(self._view, request)
        start, current, previous = await self._state.trend_windows(
            rk.Keys.for_group(self._prefix, query.group), query.window_s
        )
        return domain.trending(query, start, current, previous)

    async def GetMetricAttributionValues(self, request: Mapping[str, Any]) -> dict[str, Any]:
        attribution, group = domain.attribution_of(self._view, request)
        keys = rk.Keys.for_group(self._prefix, group)
        totals = await self._state.attribution_totals(keys, rk.attribution_tag(attribution.body))
        return domain.attribution_values(attribution.arn, totals, time.time())


def build_servicer(handlers: ConsoleHandlers) -> console_pb2_grpc.TailorConsoleServicer:
    """A servicer whose every method is the same-named ``ConsoleHandlers`` method, in protobuf's JSON mapping."""
    methods: dict[str, Any] = {}
    for method in console_pb2.DESCRIPTOR.services_by_name["TailorConsole"].methods:
        methods[method.name] = _rpc(getattr(handlers, method.name), getattr(console_pb2, method.output_type.name))
    cls = type("TailorConsole", (console_pb2_grpc.TailorConsoleServicer,), methods)
    return cls()  # type: ignore[no-any-return]


def _rpc(
    handler: Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]], response_cls: type[Message]
) -> Callable[..., Awaitable[Message]]:
    async def method(self: object, request: Message, context: grpc.aio.ServicerContext) -> Message:
        return json_format.ParseDict(await handler(json_format.MessageToDict(request)), response_cls())

    return method
