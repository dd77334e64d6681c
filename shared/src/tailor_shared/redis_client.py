"""The one way every process opens Redis: a plain server or a Sentinel-watched primary, chosen by the URL.

``redis://host:port/db`` is one server. ``redis+sentinel://host:port[,host:port…]/<primary name>[/db]`` names
Redis Sentinels and the primary they watch (ADR 0025): redis-py's ``Sentinel.master_for`` asks them where the
primary is on every new connection, so after a failover the next command reaches the promoted replica. A
failover therefore looks like a connection error to the caller, which every caller already handles (the stream
re-reads its stored offsets from the new primary; the runtime answers ServiceUnavailableException).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

from tailor_shared.errors import InvalidInputException, ServiceUnavailableException
from tailor_shared.logs import redact  # an error message never carries the URL's password (ADR 0027)

SENTINEL_SCHEME = "redis+sentinel"
#: How long asking a Sentinel where the primary is may take (they answer from memory).
SENTINEL_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    primary: str
    db: int = 0
    password: str | None = None


def parse_sentinel_url(url: str) -> SentinelUrl | None:
    """``redis+sentinel://[:password@]h:p[,h:p…]/<primary>[/db]`` -> its parts; None for any other scheme."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    auth, _, hosts = parts.netloc.rpartition("@")
    password = unquote(auth.partition(":")[2]) or None if auth else None
    sentinels: list[tuple[str, int]] = []
    for hostport in hosts.split(","):
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidInputException(f"bad Sentinel address {hostport!r} in {redact(url)!r} (expected host:port)")
        sentinels.append((host, int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise InvalidInputException(
            f"bad Sentinel URL {redact(url)!r}: expected {SENTINEL_SCHEME}://h:p,…/<primary>[/db]"
        )
    return SentinelUrl(tuple(sentinels), path[0], int(path[1]) if len(path) == 2 else 0, password)


_SENTINEL_KWARGS = {"socket_timeout": SENTINEL_TIMEOUT_S, "socket_connect_timeout": SENTINEL_TIMEOUT_S}


def redis_from_url(url: str, **kwargs: Any) -> redis.Redis[Any]:
    """A synchronous client (``kwargs`` as ``redis.Redis.from_url`` takes them)."""
    target = parse_sentinel_url(url)
    if target is None:
        return redis.Redis.from_url(url, **kwargs)
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=_SENTINEL_KWARGS)
    return sentinel.master_for(target.primary, db=target.db, password=target.password, **kwargs)


def async_redis_from_url(url: str, **kwargs: Any) -> aioredis.Redis[Any]:
    """An asyncio client (``kwargs`` as ``redis.asyncio.Redis.from_url`` takes them)."""
    target = parse_sentinel_url(url)
    if target is None:
        return aioredis.Redis.from_url(url, **kwargs)
    sentinel = AsyncSentinel(list(target.sentinels), sentinel_kwargs=_SENTINEL_KWARGS)
    return sentinel.master_for(target.primary, db=target.db, password=target.password, **kwargs)


def redis_unavailable(err: BaseException) -> ServiceUnavailableException:
    """The typed, retryable error for a failed or timed-out Redis read: callers never answer from a guess."""
    reason = str(err) or ("no answer in time" if isinstance(err, TimeoutError) else type(err).__name__)
    return ServiceUnavailableException(f"Redis is unavailable: {reason}")
