"""The stream's Lua script (``apply_batch.lua``) on the real Redis: its key-part escape is the Python one
(``redis_keys.escape``), metadata values that need escaping index the same keys as the reference model, and the
dedup memory keeps a second's tied events whole as the model does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tailor_shared import redis_keys as rk
from tailor_shared.records import DecodedRecord
from tailor_shared.topics import H_EVENT_ID, H_SOURCE
from tailor_stream.domain import Batch, Kind, MetadataOp, OpsConfig, TopicPartitionState, build_op
from tailor_stream.lua import APPLY_BATCH_LUA, decode_result, encode_batch
from tailor_stream.model import StateModel
from tailor_stream.processor import close_redis
from tailor_stream.snapshot import diff, read_snapshot
from tailor_tools import localstack

pytestmark = pytest.mark.integration

#: Every character the escape touches, alone, repeated, next to each other and already escaped.
AWKWARD = ["plain", "a:b", "*", "%", "%25", "a%3Ab", "x:y*z%w", "::**%%", "%2A", "ü:ñ*", ""]


@pytest.fixture
async def redis(stack: localstack.StackConfig, topic_prefix: str) -> AsyncIterator[aioredis.Redis[bytes]]:
    client: aioredis.Redis[bytes] = aioredis.Redis.from_url(stack.redis_url)
    yield client  # topic_prefix's teardown deletes the keys under the prefix
    await close_redis(client)


def _lua_escape_definition() -> str:
    """The ``ESC`` table and ``esc`` function exactly as the shipped script defines them."""
    lines = [line for line in APPLY_BATCH_LUA.splitlines() if line.startswith(("local ESC = ", "local function esc("))]
    assert len(lines) == 2, "apply_batch.lua must define ESC and esc (one line each)"
    return "\n".join(lines)


async def test_the_lua_escape_is_the_python_escape(redis: aioredis.Redis[bytes]) -> None:
    script = _lua_escape_definition() + "\nlocal out = {}\nfor i, v in ipairs(ARGV) do out[i] = esc(v) end\nreturn out"
    got = await redis.eval(script, 0, *AWKWARD)  # type: ignore[no-untyped-call]
    assert [g.decode() for g in got] == [rk.escape(v) for v in AWKWARD]


async def test_metadata_values_that_need_escaping_index_the_model_keys(
    redis: aioredis.Redis[bytes], topic_prefix: str
) -> None:
    keys = rk.Keys(topic_prefix, "g")
    batch = Batch(keys, OpsConfig(), [TopicPartitionState(f"{topic_prefix}.g.items:0", False, len(AWKWARD) - 1)])
    for offset, value in enumerate(AWKWARD):
        item = f"i{offset}"
        fields: tuple[tuple[str, Kind, str | None], ...] = (
            ("GENRES", "c", f"{value}|other"),
            ("BRAND", "s", value or None),
        )
        batch.records.append((0, offset, MetadataOp("item", item, keys.metadata("item", item), fields)))

    reply = await redis.eval(APPLY_BATCH_LUA, 1, keys.offsets(), encode_batch(batch))  # type: ignore[no-untyped-call]
    assert decode_result(reply).applied == len(AWKWARD)

    model = StateModel()
    model.apply(batch)
    want = {k: v for k, v in model.snapshot().items() if not k.endswith(":offsets")}
    got = {k: v for k, v in (await read_snapshot(redis, topic_prefix, "g")).items() if not k.endswith(":offsets")}
    assert got == want, "\n".join(diff(got, want))
    assert keys.value_index("item", "BRAND", "x:y*z%w") in got  # the escaped form names the key


async def test_a_retry_after_a_burst_of_one_second_counts_once_as_in_the_model(
    redis: aioredis.Redis[bytes], topic_prefix: str
) -> None:
    """More events of one subject in one second than the dedup window, then each sent again: every repeat is a
    duplicate (trimming by rank forgot some of that second's newest tokens, so repeats were counted again)."""
    keys = rk.Keys(topic_prefix, "g")
    cfg = OpsConfig(trend_windows=(), dedup_window=10)
    ts = 1_700_000_000
    ids = [f"e-{n}" for n in range(30)] * 2 + [f"n-{n}" for n in range(10)]
    batch = Batch(keys, cfg, [TopicPartitionState(f"{topic_prefix}.g.interactions:0", False, len(ids) - 1)])
    for offset, event_id in enumerate(ids):
        row = {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": ts + event_id.startswith("n-"), "EVENT_TYPE": "click"}
        record = DecodedRecord({H_SOURCE: "put", H_EVENT_ID: event_id}, row)
        batch.records.append((0, offset, build_op(keys, "Interactions", record, b"u1", None, {}, cfg, ts)))

    result = decode_result(
        await redis.eval(APPLY_BATCH_LUA, 1, keys.offsets(), encode_batch(batch))  # type: ignore[no-untyped-call]
    )
    assert (result.applied, result.duplicates) == (len(ids), 30)
    assert await redis.zscore(keys.popularity_count("click"), "i1") == 40
    model = StateModel()
    model.apply(batch)
    want = {k: v for k, v in model.snapshot().items() if not k.endswith(":offsets")}
    got = {k: v for k, v in (await read_snapshot(redis, topic_prefix, "g")).items() if not k.endswith(":offsets")}
    assert got == want, "\n".join(diff(got, want))
    assert len(await redis.zrange(keys.dedup(rk.user_subject("u1")), 0, -1)) == cfg.dedup_window
