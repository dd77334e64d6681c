"""The one read of the stream's trend windows (docs/specs/redis-keys.md, "Trends"): what Trending-Now serves and
the console shows. The caller bounds it in time and maps Redis failures to its own errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailor_shared.redis_keys import Keys


async def latest_trend_windows(
    redis: Any, keys: Keys, size_s: int
) -> tuple[int | None, dict[str, float], dict[str, float]]:
    """The latest complete ``size_s`` window before the newest event time the stream saw (``tr:maxts``) and the
    window before it: (its start, or None when there is none yet; per-item counts; the previous counts).
    ``redis``: a ``redis.asyncio.Redis`` (bytes replies)."""
    raw_max = await redis.get(keys.trend_max_ts())
    newest = float(raw_max) if raw_max else 0.0
    starts = await redis.zrevrangebyscore(keys.trend_index(size_s), newest - size_s, "-inf", start=0, num=1)
    if not starts:
        return None, {}, {}
    start = int(float(starts[0]))
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.trend(size_s, start))
    pipe.hgetall(keys.trend(size_s, start - size_s))
    now, before = await pipe.execute()
    return start, _counts(now), _counts(before)


def _counts(raw: Mapping[bytes, bytes]) -> dict[str, float]:
    return {k.decode(): float(v) for k, v in raw.items()}
