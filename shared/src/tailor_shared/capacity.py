"""Provisioned throughput (ADR 0023): what ``minProvisionedTPS`` (campaigns) and
``recommenderConfig.minRecommendationRequestsPerSecond`` (recommenders) ask the runtime to hold, and how many
runtime replicas that takes. Personalize scales a campaign above its minimum, never below; Tailor's runtime is
one Deployment serving every campaign, so its floor (the HPA's ``minReplicas``) is the sum of the minimums
divided by what one replica serves (measured: docs/benchmarks.md), and the CPU autoscaler adds replicas above
it. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tailor_shared.resources import ResourceRecord

#: Statuses in which a campaign or recommender holds capacity (a stopped recommender is INACTIVE; failed or
#: deleting resources serve nothing).
SERVING = frozenset({"ACTIVE", "CREATE PENDING", "CREATE IN_PROGRESS", "UPDATE PENDING", "UPDATE IN_PROGRESS"})
DEFAULT_MIN_REPLICAS = 2  # k8s/base/runtime.yaml: two replicas for availability, whatever the throughput


@dataclass(frozen=True)
class Provisioned:
    total_tps: int
    by_resource: Mapping[str, int]


def _minimum(body: Mapping[str, Any]) -> int:
    """A resource's minimum; during an update the larger of the serving and the pending one (both may serve)."""
    if "minProvisionedTPS" in body:  # a campaign
        update = body.get("latestCampaignUpdate") or {}
        values = [body.get("minProvisionedTPS"), update.get("minProvisionedTPS") if isinstance(update, dict) else None]
    else:
        config = body.get("recommenderConfig") or {}
        update = (body.get("latestRecommenderUpdate") or {}).get("recommenderConfig") or {}
        values = [config.get("minRecommendationRequestsPerSecond"), update.get("minRecommendationRequestsPerSecond")]
    return max([int(v) for v in values if isinstance(v, int | float) and v >= 1] or [1])


def provisioned(records: Iterable[ResourceRecord]) -> Provisioned:
    """The throughput the serving campaigns and recommenders of ``records`` are provisioned for."""
    by_resource = {
        r.arn: _minimum(r.body)
        for r in records
        if r.resource_type in ("campaign", "recommender") and r.body.get("status") in SERVING
    }
    return Provisioned(sum(by_resource.values()), by_resource)


def min_replicas(total_tps: int, replica_tps: float, floor: int = DEFAULT_MIN_REPLICAS) -> int:
    """Runtime replicas that hold ``total_tps`` when one replica serves ``replica_tps`` (never below ``floor``)."""
    if replica_tps <= 0:
        raise ValueError("replica_tps must be positive")
    return max(floor, math.ceil(total_tps / replica_tps))
