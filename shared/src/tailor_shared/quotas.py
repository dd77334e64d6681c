"""Request-rate quotas as Personalize's (docs/adr/0023): per campaign / recommender per runtime API, all runtime
APIs together, and per dataset group for the Put* APIs; a call over its rate is refused with ThrottlingException.

Enforced across replicas by token buckets in Redis (one Lua script, Redis's clock): a replica takes a small
*lease* of tokens at a time (``lease`` x the rate, at least one) and spends it locally, so most calls cost no
round trip, and the whole deployment admits at most the rate plus one lease per replica in any second.
A lease not spent within a second is dropped. When Redis cannot be reached, calls are admitted (quotas guard
capacity, not correctness) and ``tailor_<service>_quota_checks_total{outcome="unchecked"}`` counts them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from tailor_shared.config import CommonSettings, QuotaSettings
from tailor_shared.errors import ThrottlingException
from tailor_shared.metrics import metric_name
from tailor_shared.redis_client import async_redis_from_url
from tailor_shared.redis_keys import quota_bucket

log = logging.getLogger(__name__)

#: The runtime APIs that share the combined rate (quota table, "combined").
RUNTIME_APIS = frozenset({"GetRecommendations", "GetPersonalizedRanking", "GetActionRecommendations"})
#: The request field that names what a call is counted against, by API.
SCOPE_FIELDS = ("campaign_arn", "recommender_arn", "tracking_id", "dataset_arn")
#: The Put* calls count per dataset group: PutEvents and PutActionInteractions name the group's event tracker
#: (one per group), the others the group's dataset of their type (one per group).
_LEASE_TTL_S = 1.0
_REDIS_RETRY_S = 1.0

# KEYS: bucket keys; ARGV: want, then (rate, burst) per key. Takes the same grant from every bucket: the
# smallest number of whole tokens all of them have, up to ``want``. Returns the grant.
_TAKE = """
local want = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local have = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  have = math.min(burst, have + math.max(0, now - ts) * rate)
  tokens[i] = have
  want = math.min(want, math.floor(have))
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', key, 'tokens', tostring(tokens[i] - want), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
end
return want
"""


@dataclass(frozen=True)
class Bucket:
    key: str  # the bucket's name: "<API>|<scope>" or "runtime|*"
    rate: float  # tokens per second (= the quota)


def buckets_for(method: str, request: Any, limits: Mapping[str, float]) -> list[Bucket]:
    """The buckets a call draws from (pure): its API's bucket for the campaign / recommender / dataset group it
    names, and for runtime APIs also the combined one. A quota of 0 is no quota."""
    out: list[Bucket] = []
    rate = limits.get(method, 0.0)
    if rate > 0:
        scope = next((str(getattr(request, f)) for f in SCOPE_FIELDS if getattr(request, f, "")), "")
        out.append(Bucket(f"{method}|{scope}", rate))
    total = limits.get("RuntimeTotal", 0.0)
    if method in RUNTIME_APIS and total > 0:
        out.append(Bucket("runtime|*", total))
    return out


class RequestQuotas:
    """``admit(method, request)`` for the gRPC interceptor (``GrpcService.admit``)."""

    @classmethod
    def open(cls, common: CommonSettings) -> RequestQuotas | None:
        """A service's quotas as configured (None: no request quotas); ``close`` it on shutdown."""
        if not common.quotas.limits:
            return None
        client = async_redis_from_url(common.redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
        return cls(client, common.topic_prefix, common.quotas, common.service)

    async def close(self) -> None:
        await self._redis.aclose()

    def __init__(self, redis: Any, prefix: str, settings: QuotaSettings, service: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._settings = settings
        self._script = redis.register_script(_TAKE)
        self._leases: dict[tuple[str, ...], tuple[int, float]] = {}  # bucket keys -> (tokens left, expiry)
        self._redis_down_until = 0.0
        self._checks = _checks(service)

    def lease_size(self, buckets: list[Bucket]) -> int:
        return max(1, math.floor(min(b.rate for b in buckets) * self._settings.lease))

    async def admit(self, method: str, request: Any) -> None:
        buckets = buckets_for(method, request, self._settings.limits)
        if not buckets:
            return
        ident = tuple(b.key for b in buckets)
        now = time.monotonic()
        left, expiry = self._leases.get(ident, (0, 0.0))
        if left > 0 and now < expiry:
            self._leases[ident] = (left - 1, expiry)
            self._checks.labels("local").inc()
            return
        if now < self._redis_down_until:
            self._checks.labels("unchecked").inc()
            return
        want = self.lease_size(buckets)
        keys = [quota_bucket(self._prefix, b.key) for b in buckets]
        args: list[float] = [want]
        for b in buckets:
            args += [b.rate, b.rate]  # a bucket holds one second of its rate (its burst)
        try:
            granted = int(await self._script(keys=keys, args=args))
        except Exception as err:  # Redis unreachable: admit, check again in a second
            self._redis_down_until = now + _REDIS_RETRY_S
            self._checks.labels("unchecked").inc()
            log.warning("request quotas not checked: %s", err)
            return
        if granted <= 0:
            self._checks.labels("throttled").inc()
            raise ThrottlingException("Rate exceeded")
        self._leases[ident] = (granted - 1, now + _LEASE_TTL_S)
        self._checks.labels("redis").inc()


_CHECKS: dict[str, Counter] = {}


def _checks(service: str) -> Counter:
    if service not in _CHECKS:
        _CHECKS[service] = Counter(
            metric_name(service, "quota_checks", "total"),
            "Request-quota decisions: local (a leased token), redis (a new lease), throttled, unchecked (Redis down)",
            ["outcome"],
        )
    return _CHECKS[service]
