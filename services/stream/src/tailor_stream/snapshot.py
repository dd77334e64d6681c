"""Read the stream's Redis state into plain Python values (``model.Snapshot``), to compare states.

Used by the tests (replay after a crash and a rebuild must give the same state; Redis must equal the
reference model) and by ``python -m tailor_stream snapshot`` for operators. TTLs are not part of a
snapshot; HyperLogLogs appear as their count.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from tailor_shared import redis_keys as rk
from tailor_stream.model import Snapshot


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def read_snapshot(redis: aioredis.Redis[bytes], prefix: str, dataset_group: str | None = None) -> Snapshot:
    pattern = rk.Keys(prefix, dataset_group).pattern() if dataset_group else rk.prefix_pattern(prefix)
    keys = sorted({_text(k) async for k in redis.scan_iter(match=pattern, count=1000)})
    if not keys:
        return {}
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    types = [_text(t) for t in await pipe.execute()]
    pipe = redis.pipeline(transaction=False)
    for key, kind in zip(keys, types, strict=True):
        if kind == "zset":
            pipe.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            pipe.smembers(key)
        elif kind == "hash":
            pipe.hgetall(key)
        elif kind == "string" and ":pop:hll:" in key:
            pipe.pfcount(key)
        else:
            pipe.get(key)
    values = await pipe.execute()
    out: Snapshot = {}
    for key, kind, value in zip(keys, types, values, strict=True):
        out[key] = _convert(key, kind, value)
    return out


def _convert(key: str, kind: str, value: Any) -> tuple[str, Any]:
    if kind == "zset":
        return ("zset", {_text(m): float(s) for m, s in value})
    if kind == "set":
        return ("set", frozenset(_text(m) for m in value))
    if kind == "hash":
        return ("hash", {_text(k): _text(v) for k, v in value.items()})
    if kind == "string" and ":pop:hll:" in key:
        return ("hll", int(value))
    if value is None:
        return ("none", None)  # expired between SCAN and GET
    return (kind, _text(value))


def diff(left: Snapshot, right: Snapshot, limit: int = 20) -> list[str]:
    """Human-readable differences (for assertion messages)."""
    lines: list[str] = []
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key), right.get(key)
        if a != b:
            lines.append(f"{key}: {_short(a)} != {_short(b)}")
            if len(lines) >= limit:
                lines.append("...")
                break
    return lines


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."
